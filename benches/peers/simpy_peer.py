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

The model's constants, the JSON result and the command line are shared
with heapq_peer.py (common.py).  Prints one JSON object on stdout.
"""

import heapq
import random
import time

import simpy

from common import (MU, SIGMA, UTILISATION, VISIBILITY_TIMEOUT_S, WAIT_TIME_S, WORKERS,
                    arrival_rate, main, result)


class Message:
    def __init__(self, msg_id, sent_at):
        self.id = msg_id
        self.sent_at = sent_at
        self.receive_count = 0  # also the number of the newest receipt
        self.deleted = False
        self.effect_committed = False
        self.processing = 0  # holders currently processing it


class Stats:
    """Counts of a run; the attribute names are common.result's arguments."""

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

    return result("simpy", messages=n_messages, rate=rate, seed=seed, workers=workers,
                  visibility_timeout=visibility_timeout, sim_time_s=env.now, events=events,
                  wall_s=wall_s, **vars(stats))


if __name__ == "__main__":
    main("simpy", simulate, __doc__)
