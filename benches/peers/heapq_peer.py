#!/usr/bin/env python3
"""Plain-Python heapq event-loop peer of dupsim benchmark model 1.

Same semantics as simpy_peer.py (see README.md in this folder): one SQS
Standard queue, Poisson producer, 200 single-threaded workers that long-poll
(max 1 message, 20 s wait), lognormal processing (median 1 s, p99 5 s),
commit a side effect, delete with their receipt ("latest_only").
Visibility timeout 30 s.

Events are tuples (time, seq, kind, a, b) in one binary heap; per-message
state lives in flat lists indexed by message id (= send order).  Stale
events (visibility timers of deleted/re-received messages, poll timeouts of
pollers that were served) are discarded when popped, and count as events.

The model's constants, the JSON result and the command line are shared
with simpy_peer.py (common.py).  Prints one JSON object on stdout.
"""

import random
import time
from collections import deque
from heapq import heappop, heappush

from common import (MU, SIGMA, UTILISATION, VISIBILITY_TIMEOUT_S, WAIT_TIME_S, WORKERS,
                    arrival_rate, main, result)

ARRIVE = 0      # a, b unused
DONE = 1        # a = worker, b = (message, receipt)
EXPIRE = 2      # a = message, b = receipt
POLL_TIMEOUT = 3  # a = worker, b = poll id


def simulate(n_messages, seed, workers=WORKERS, visibility_timeout=VISIBILITY_TIMEOUT_S,
             utilisation=UTILISATION):
    rate = arrival_rate(workers, utilisation)
    rng = random.Random(seed)
    expovariate = rng.expovariate
    lognormvariate = rng.lognormvariate
    vt = visibility_timeout
    wait_time = WAIT_TIME_S

    # Per-message state (index = message id = send order).
    sent_at = [0.0] * n_messages
    receive_count = [0] * n_messages  # also the number of the newest receipt
    deleted = bytearray(n_messages)
    committed = bytearray(n_messages)
    processing = bytearray(n_messages)  # holders currently processing

    # Per-worker long-poll state.
    poll_id = [0] * workers
    waiting = [False] * workers

    visible = []        # heap of message ids (oldest first); deleted ones dropped lazily
    waiters = deque()   # (worker, poll id), FIFO; stale entries dropped lazily
    heap = []
    seq = 0

    deliveries = redeliveries = redeliveries_concurrent = 0
    effects = duplicate_effects = empty_receives = delete_stale = 0
    busy_s = 0.0
    e2e = []
    n_deleted = 0
    sent = 0
    last_send = 0.0
    now = 0.0

    def receive(w, m):
        nonlocal seq, deliveries, redeliveries, redeliveries_concurrent, busy_s
        rc = receive_count[m] + 1
        receive_count[m] = rc
        deliveries += 1
        if rc > 1:
            redeliveries += 1
            if processing[m]:
                redeliveries_concurrent += 1
        processing[m] += 1
        service = lognormvariate(MU, SIGMA)
        busy_s += service
        heappush(heap, (now + vt, seq, EXPIRE, m, rc))
        heappush(heap, (now + service, seq + 1, DONE, w, (m, rc)))
        seq += 2

    def poll(w):
        nonlocal seq
        while visible:
            m = heappop(visible)
            if not deleted[m]:
                receive(w, m)
                return
        pid = poll_id[w] + 1
        poll_id[w] = pid
        waiting[w] = True
        waiters.append((w, pid))
        heappush(heap, (now + wait_time, seq, POLL_TIMEOUT, w, pid))
        seq += 1

    def make_visible(m):
        while waiters:
            w, pid = waiters.popleft()
            if waiting[w] and poll_id[w] == pid:
                waiting[w] = False
                receive(w, m)
                return
        heappush(visible, m)

    started = time.perf_counter()
    for w in range(workers):
        poll(w)
    heappush(heap, (expovariate(rate), seq, ARRIVE, 0, 0))
    seq += 1

    events = 0
    while n_deleted < n_messages:
        now, _, kind, a, b = heappop(heap)
        events += 1
        if kind == DONE:
            m, receipt = b
            processing[m] -= 1
            effects += 1
            if committed[m]:
                duplicate_effects += 1
            else:
                committed[m] = 1
                e2e.append(now - sent_at[m])
            if deleted[m] or receipt != receive_count[m]:
                delete_stale += 1
            else:
                deleted[m] = 1
                n_deleted += 1
            poll(a)
        elif kind == ARRIVE:
            m = sent
            sent_at[m] = now
            sent += 1
            if sent < n_messages:
                heappush(heap, (now + expovariate(rate), seq, ARRIVE, 0, 0))
                seq += 1
            else:
                last_send = now
            make_visible(m)
        elif kind == EXPIRE:
            if not deleted[a] and receive_count[a] == b:
                make_visible(a)  # premature expiry: visible again
        else:  # POLL_TIMEOUT
            if waiting[a] and poll_id[a] == b:
                waiting[a] = False
                empty_receives += 1
                poll(a)
    wall_s = time.perf_counter() - started

    return result("heapq", messages=n_messages, rate=rate, seed=seed, workers=workers,
                  visibility_timeout=visibility_timeout, sim_time_s=now, events=events,
                  wall_s=wall_s, deliveries=deliveries, redeliveries=redeliveries,
                  redeliveries_concurrent=redeliveries_concurrent, effects=effects,
                  duplicate_effects=duplicate_effects, delete_stale=delete_stale,
                  empty_receives=empty_receives, e2e=e2e, busy_s=busy_s,
                  last_send_s=last_send)


if __name__ == "__main__":
    main("heapq", simulate, __doc__)
