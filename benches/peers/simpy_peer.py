#!/usr/bin/env python3
"""SimPy peer of dupsim benchmark model 1 (see README.md in this folder).

One SQS Standard queue, Poisson producer, 200 single-threaded workers that
long-poll (max 1 message, 20 s wait), process for a lognormal time (median
1 s, p99 5 s), commit a side effect and delete with their receipt
(delete policy "latest_only").  Visibility timeout 30 s; a message whose
timeout expires while it is still in flight becomes visible again.

Written the way a SimPy user would write it: processes for the producer and
the workers, a PriorityStore (ordered by send order) for the visible
messages, get-requests raced against a timeout for long polling, and
timeouts with callbacks for visibility expiry.  Not micro-optimised.

Prints one JSON object on stdout.
"""

import argparse
import heapq
import json
import math
import random
import resource
import sys
import time

import simpy

WORKERS = 200
WAIT_TIME_S = 20.0
VISIBILITY_TIMEOUT_S = 30.0
MEDIAN_S = 1.0
P99_S = 5.0
Z99 = 2.3263478740408408
MU = math.log(MEDIAN_S)
SIGMA = math.log(P99_S / MEDIAN_S) / Z99
UTILISATION = 0.75


def arrival_rate(workers=WORKERS, utilisation=UTILISATION):
    mean_service = math.exp(MU + SIGMA * SIGMA / 2.0)
    return utilisation * workers / mean_service


class Message:
    def __init__(self, msg_id, sent_at):
        self.id = msg_id
        self.sent_at = sent_at
        self.receive_count = 0  # also the number of the newest receipt
        self.deleted = False
        self.effect_committed = False
        self.processing = 0  # holders currently processing it


class Stats:
    def __init__(self):
        self.deliveries = 0
        self.redeliveries = 0
        self.redeliveries_concurrent = 0
        self.effects = 0
        self.duplicate_effects = 0
        self.empty_receives = 0
        self.delete_stale = 0
        self.busy_s = 0.0
        self.last_send_s = 0.0
        self.e2e = []


class VisibleMessages(simpy.PriorityStore):
    """Visible messages, oldest (by send order) first.

    A message can be deleted while visible (its newest receipt holder
    finishes after the visibility timeout expired); such messages are
    dropped lazily here instead of being handed out.
    """

    def _do_get(self, event):
        while self.items:
            _, msg = heapq.heappop(self.items)
            if not msg.deleted:
                event.succeed(msg)
                break
        return None


class SqsQueue:
    """A single SQS Standard queue (no delay, retention irrelevant)."""

    def __init__(self, env, stats, n_messages, visibility_timeout=VISIBILITY_TIMEOUT_S):
        self.env = env
        self.stats = stats
        self.visibility_timeout = visibility_timeout
        self.visible = VisibleMessages(env)
        self.n_messages = n_messages
        self.deleted = 0
        self.all_deleted = env.event()

    def send(self, msg):
        self.visible.put((msg.id, msg))

    def receive(self, wait_time):
        """Long poll for at most one message (use with ``yield from``).

        Returns ``(message, receipt)`` or ``None`` after ``wait_time`` with
        nothing received.  Waiting pollers are served first come, first served
        (the store's get queue is FIFO).
        """
        get = self.visible.get()
        timeout = self.env.timeout(wait_time)
        yield get | timeout
        # Check `triggered`, not `get in result`: if the get and the timeout
        # happen at the same instant the message has already left the store.
        if not get.triggered:
            get.cancel()
            return None
        msg = get.value
        msg.receive_count += 1
        receipt = msg.receive_count
        stats = self.stats
        stats.deliveries += 1
        if receipt > 1:
            stats.redeliveries += 1
            if msg.processing > 0:
                stats.redeliveries_concurrent += 1
        expiry = self.env.timeout(self.visibility_timeout)
        expiry.callbacks.append(lambda _ev: self._visibility_expired(msg, receipt))
        return msg, receipt

    def _visibility_expired(self, msg, receipt):
        if not msg.deleted and msg.receive_count == receipt:
            self.send(msg)  # premature expiry: visible again

    def delete(self, msg, receipt):
        """Delete policy "latest_only": only the newest receipt deletes."""
        if msg.deleted or receipt != msg.receive_count:
            self.stats.delete_stale += 1
            return
        msg.deleted = True
        self.deleted += 1
        if self.deleted == self.n_messages:
            self.all_deleted.succeed()


def producer(env, queue, rng, n_messages, rate):
    for msg_id in range(n_messages):
        yield env.timeout(rng.expovariate(rate))
        queue.send(Message(msg_id, env.now))
    queue.stats.last_send_s = env.now


def worker(env, queue, rng, stats):
    while True:
        got = yield from queue.receive(WAIT_TIME_S)
        if got is None:
            stats.empty_receives += 1
            continue
        msg, receipt = got
        service = rng.lognormvariate(MU, SIGMA)
        stats.busy_s += service
        msg.processing += 1
        yield env.timeout(service)
        msg.processing -= 1
        # Commit the side effect, then delete with our receipt.
        stats.effects += 1
        if msg.effect_committed:
            stats.duplicate_effects += 1
        else:
            msg.effect_committed = True
            stats.e2e.append(env.now - msg.sent_at)
        queue.delete(msg, receipt)


def percentile(sorted_values, q):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def simulate(n_messages, seed, workers=WORKERS, visibility_timeout=VISIBILITY_TIMEOUT_S,
             utilisation=UTILISATION):
    rate = arrival_rate(workers, utilisation)
    rng = random.Random(seed)
    env = simpy.Environment()
    stats = Stats()
    queue = SqsQueue(env, stats, n_messages, visibility_timeout)
    env.process(producer(env, queue, rng, n_messages, rate))
    for _ in range(workers):
        env.process(worker(env, queue, rng, stats))

    started = time.perf_counter()
    events = 0
    done = queue.all_deleted
    while not done.triggered:
        env.step()
        events += 1
    wall_s = time.perf_counter() - started

    e2e = sorted(stats.e2e)
    sim_time = env.now
    return {
        "impl": "simpy",
        "messages": n_messages,
        "rate": rate,
        "seed": seed,
        "workers": workers,
        "visibility_timeout_s": visibility_timeout,
        "sim_time_s": sim_time,
        "events": events,
        "wall_s": wall_s,
        "events_per_s": events / wall_s if wall_s > 0 else None,
        "messages_per_s_wall": n_messages / wall_s if wall_s > 0 else None,
        "deliveries": stats.deliveries,
        "redeliveries": stats.redeliveries,
        "redeliveries_concurrent": stats.redeliveries_concurrent,
        "effects": stats.effects,
        "duplicate_effects": stats.duplicate_effects,
        "delete_stale": stats.delete_stale,
        "e2e_p50_s": percentile(e2e, 0.50),
        "e2e_p99_s": percentile(e2e, 0.99),
        "empty_receives": stats.empty_receives,
        # Busy time over the arrival window (the drain tail after the last
        # send is excluded, so small runs are not biased low).
        "utilisation": (stats.busy_s / (workers * stats.last_send_s)
                        if stats.last_send_s > 0 else None),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=WORKERS,
                        help="default %(default)s (the benchmark uses the default)")
    parser.add_argument("--visibility-timeout", type=float, default=VISIBILITY_TIMEOUT_S,
                        help="seconds, default %(default)s; lower it to exercise duplicates")
    parser.add_argument("--utilisation", type=float, default=UTILISATION,
                        help="target utilisation that sets the rate, default %(default)s")
    args = parser.parse_args(argv)
    if args.messages < 1:
        parser.error("--messages must be >= 1")
    rate = arrival_rate(args.workers, args.utilisation)
    print(f"simpy peer: {args.messages} messages, rate {rate:.6f} msg/s", file=sys.stderr)
    print(json.dumps(simulate(args.messages, args.seed, args.workers, args.visibility_timeout,
                                    args.utilisation)))


if __name__ == "__main__":
    main()
