//! The event queue: pending events ordered by (time, sequence number).
//!
//! The sequence number is a global counter taken when an event is scheduled,
//! so two events at the same instant run in the order they were scheduled.
//! Cancelled timers are not searched for in the queue: each carries a
//! generation number and is recognised as stale when it fires (or is dropped
//! by [`Events::retain`]).
//!
//! Events scheduled after a fixed delay that recurs (the queue's visibility
//! timeout, a long poll's wait, a heartbeat interval) are already in time
//! order, so they go to FIFO lanes: push and pop are O(1). The others go to a
//! radix heap (`radix.rs`), which relies on the keys being monotone (nothing
//! is scheduled before the clock): it moves entries sequentially between
//! buckets instead of sifting a binary heap, whose pops were cache misses once
//! it held hundreds of thousands of timers (issue 17: 59% of the time at 1 M
//! in flight). `pop` takes the earliest (time, seq) across the heap and the
//! lanes, so the order is exactly the one a single binary heap would give
//! (checked against one by a proptest below).

mod radix;

use crate::duration::Nanos;
use radix::{Entry, RadixHeap};
use std::collections::VecDeque;

/// At most this many lanes; further delays use the heap.
const MAX_LANES: usize = 8;

/// What [`Events::pop_until`] found.
pub enum Pop<E> {
    Event(E),
    /// No event is pending.
    Empty,
    /// The next event is after the limit.
    Beyond,
}

struct Lane<E> {
    delay: Nanos,
    queue: VecDeque<Entry<E>>,
}

/// Where the next event is.
#[derive(Clone, Copy)]
enum Next {
    Heap,
    Lane(usize),
}

/// Pending events and the simulated clock.
pub struct Events<E> {
    heap: RadixHeap<E>,
    lanes: Vec<Lane<E>>,
    seq: u64,
    now: Nanos,
}

impl<E> Default for Events<E> {
    fn default() -> Self {
        Events { heap: RadixHeap::default(), lanes: Vec::new(), seq: 0, now: 0 }
    }
}

impl<E> Events<E> {
    /// Bytes held by pending events (heap and lanes, by capacity), for the
    /// memory limit (`limits.rs`).
    pub fn footprint(&self) -> u64 {
        let lanes: usize = self.lanes.iter().map(|l| l.queue.capacity()).sum();
        crate::limits::bytes_of::<Entry<E>>(self.heap.capacity() + lanes)
    }

    /// The current simulated time.
    #[inline]
    pub fn now(&self) -> Nanos {
        self.now
    }

    /// Schedule `event` at absolute time `time` (never in the past).
    #[inline]
    pub fn at(&mut self, time: Nanos, event: E) {
        debug_assert!(time >= self.now, "event scheduled in the past: {time} < {}", self.now);
        self.heap.push(Entry { time: time.max(self.now), seq: self.seq, event });
        self.seq += 1;
    }

    /// Give events scheduled after exactly `delay` a FIFO lane (no-op if it
    /// has one, or if all lanes are taken).
    pub fn add_lane(&mut self, delay: Nanos) {
        if delay > 0 && self.lanes.len() < MAX_LANES && !self.lanes.iter().any(|l| l.delay == delay) {
            self.lanes.push(Lane { delay, queue: VecDeque::with_capacity(256) });
        }
    }

    /// Schedule `event` after `delay` (saturating at the end of time).
    #[inline]
    pub fn after(&mut self, delay: Nanos, event: E) {
        let time = self.now.saturating_add(delay);
        if let Some(lane) = self.lanes.iter_mut().find(|l| l.delay == delay) {
            debug_assert!(lane.queue.back().is_none_or(|b| b.time <= time), "lane out of order");
            lane.queue.push_back(Entry { time, seq: self.seq, event });
            self.seq += 1;
        } else {
            self.at(time, event);
        }
    }

    /// The source of the earliest pending event.
    #[inline]
    fn next(&self) -> Option<(Nanos, Next)> {
        let mut best = self.heap.peek().map(|(t, s)| (t, s, Next::Heap));
        for (i, lane) in self.lanes.iter().enumerate() {
            if let Some(f) = lane.queue.front() {
                if best.is_none_or(|(t, s, _)| (f.time, f.seq) < (t, s)) {
                    best = Some((f.time, f.seq, Next::Lane(i)));
                }
            }
        }
        best.map(|(t, _, n)| (t, n))
    }

    /// The earliest event of the heap, the part that holds events at
    /// arbitrary times: the next event or one soon after it (a lane may come
    /// first). For cache hints only.
    #[inline]
    pub fn peek_heap(&self) -> Option<&E> {
        self.heap.peek_event()
    }

    /// Time of the next event, if any.
    #[inline]
    pub fn peek_time(&self) -> Option<Nanos> {
        self.next().map(|(t, _)| t)
    }

    /// Remove the next event if it is due at or before `limit`.
    #[inline]
    pub fn pop_until(&mut self, limit: Nanos) -> Pop<E> {
        let Some((time, next)) = self.next() else { return Pop::Empty };
        if time > limit {
            return Pop::Beyond;
        }
        let entry = match next {
            Next::Heap => self.heap.pop(),
            Next::Lane(i) => self.lanes[i].queue.pop_front(),
        };
        match entry {
            Some(e) => {
                debug_assert!(e.time >= self.now, "time went backwards");
                self.now = e.time;
                Pop::Event(e.event)
            }
            None => Pop::Empty,
        }
    }

    /// Remove the next event and advance the clock to its time.
    #[inline]
    pub fn pop(&mut self) -> Option<E> {
        let entry = match self.next()?.1 {
            Next::Heap => self.heap.pop()?,
            Next::Lane(i) => self.lanes[i].queue.pop_front()?,
        };
        debug_assert!(entry.time >= self.now, "time went backwards");
        self.now = entry.time;
        Some(entry.event)
    }

    /// Advance the clock without an event (used when a run stops on its time limit).
    pub fn advance_to(&mut self, time: Nanos) {
        self.now = self.now.max(time);
    }

    pub fn len(&self) -> usize {
        self.heap.len() + self.lanes.iter().map(|l| l.queue.len()).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drop every pending event for which `keep` is false (timers known to
    /// be stale), keeping the others' (time, seq) order. O(pending).
    pub fn retain(&mut self, mut keep: impl FnMut(&E) -> bool) {
        self.heap.retain(&mut keep);
        for lane in &mut self.lanes {
            lane.queue.retain(|e| keep(&e.event));
        }
    }

    /// Every pending event with its time, in no particular order (for
    /// `--paranoid` checks; never used by the simulation itself).
    pub fn pending(&self) -> impl Iterator<Item = (Nanos, &E)> + '_ {
        self.heap.iter().chain(self.lanes.iter().flat_map(|l| l.queue.iter())).map(|e| (e.time, &e.event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pops_in_time_then_schedule_order() {
        let mut q = Events::default();
        q.at(5, "c");
        q.at(1, "a");
        q.at(5, "d");
        q.at(1, "b");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec!["a", "b", "c", "d"]);
        assert_eq!(q.now(), 5);
    }

    #[test]
    fn lanes_keep_the_global_time_then_schedule_order() {
        // The same schedule through a plain heap and through lanes pops identically.
        let plan: Vec<(u64, u64)> = (0..2000u64).map(|i| (i * 7919 % 13, [5, 10, 3, 10, 5][i as usize % 5])).collect();
        let run = |lanes: bool| {
            let mut q: Events<u64> = Events::default();
            if lanes {
                q.add_lane(5);
                q.add_lane(10);
            }
            let mut out = Vec::new();
            for (i, &(advance, delay)) in plan.iter().enumerate() {
                q.at(q.now() + advance, u64::MAX);
                q.after(delay, i as u64);
                while q.peek_time().is_some_and(|t| t <= q.now() + advance / 2) {
                    out.push((q.now(), q.pop().unwrap()));
                }
            }
            while let Some(e) = q.pop() {
                out.push((q.now(), e));
            }
            out
        };
        assert_eq!(run(false), run(true));
    }

    #[test]
    fn retain_drops_events_and_keeps_the_order_of_the_rest() {
        let mut q: Events<u64> = Events::default();
        q.add_lane(10);
        for i in 0..100u64 {
            q.at(i % 7 * 3, i);
            q.after(10, 1000 + i);
        }
        q.retain(|e| e % 3 != 0);
        let mut last = (0, 0);
        let mut got = Vec::new();
        while let Some(e) = q.pop() {
            assert!(e % 3 != 0, "a dropped event came back: {e}");
            got.push(e);
            let key = (q.now(), e);
            assert!(key.0 >= last.0, "time went backwards");
            last = key;
        }
        let want: Vec<u64> = {
            let mut v: Vec<(u64, u64, u64)> = (0..100u64)
                .map(|i| (i % 7 * 3, i, i))
                .chain((0..100u64).map(|i| (10, 100 + i, 1000 + i)))
                .filter(|&(_, _, e)| e % 3 != 0)
                .collect();
            v.sort();
            v.into_iter().map(|(_, _, e)| e).collect()
        };
        assert_eq!(got, want);
    }

    /// The specification: one binary heap of (time, seq), no lanes, no
    /// radix buckets; the same API as [`Events`].
    #[derive(Default)]
    struct Reference {
        heap: std::collections::BinaryHeap<std::cmp::Reverse<(Nanos, u64, u64)>>,
        seq: u64,
        now: Nanos,
    }

    impl Reference {
        fn at(&mut self, time: Nanos, event: u64) {
            self.heap.push(std::cmp::Reverse((time, self.seq, event)));
            self.seq += 1;
        }
        fn after(&mut self, delay: Nanos, event: u64) {
            self.at(self.now.saturating_add(delay), event);
        }
        fn peek_time(&self) -> Option<Nanos> {
            self.heap.peek().map(|r| r.0 .0)
        }
        fn pop(&mut self) -> Option<u64> {
            let std::cmp::Reverse((t, _, e)) = self.heap.pop()?;
            self.now = t;
            Some(e)
        }
        fn pop_until(&mut self, limit: Nanos) -> Option<Option<u64>> {
            match self.peek_time() {
                None => None,
                Some(t) if t > limit => Some(None),
                Some(_) => Some(self.pop()),
            }
        }
        fn retain(&mut self, keep: impl Fn(&u64) -> bool) {
            self.heap.retain(|r| keep(&r.0 .2));
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// `at(now + dt)`.
        At(Nanos),
        /// `after(delay)`.
        After(Nanos),
        AddLane(Nanos),
        Pop,
        /// `pop_until(now + dt)`.
        PopUntil(Nanos),
        AdvanceTo(Nanos),
        /// Keep the events whose number is not `r` modulo `m`.
        Retain(u64, u64),
    }

    /// Delays that recur (some get lanes), ties (0) and times far apart,
    /// up to the end of time (saturation), so that every bucket is used.
    fn delay() -> impl Strategy<Value = Nanos> {
        prop_oneof![
            4 => prop::sample::select(vec![0, 1, 5, 10, 30, 1_000, 30_000_000_000]),
            4 => 0..64u64,
            2 => 0..1u64 << 40,
            1 => any::<u64>(),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => delay().prop_map(Op::At),
            6 => delay().prop_map(Op::After),
            1 => delay().prop_map(Op::AddLane),
            8 => Just(Op::Pop),
            3 => delay().prop_map(Op::PopUntil),
            1 => delay().prop_map(Op::AdvanceTo),
            1 => (2..6u64, 0..6u64).prop_map(|(m, r)| Op::Retain(m, r)),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

        /// Any schedule pops in exactly the order of one plain (time, seq)
        /// heap, with the same clock, length and next time after every step.
        #[test]
        fn pops_like_a_plain_heap_of_time_and_seq(
            lanes in prop::collection::vec(delay(), 0..4),
            ops in prop::collection::vec(op(), 0..600),
        ) {
            let mut q: Events<u64> = Events::default();
            let mut r = Reference::default();
            for d in lanes {
                q.add_lane(d);
            }
            let mut next_event = 0u64;
            for op in ops {
                match op {
                    Op::At(dt) => {
                        let t = q.now().saturating_add(dt);
                        q.at(t, next_event);
                        r.at(t, next_event);
                        next_event += 1;
                    }
                    Op::After(d) => {
                        q.after(d, next_event);
                        r.after(d, next_event);
                        next_event += 1;
                    }
                    Op::AddLane(d) => q.add_lane(d),
                    Op::Pop => prop_assert_eq!(q.pop(), r.pop()),
                    Op::PopUntil(dt) => {
                        let limit = q.now().saturating_add(dt);
                        let got = match q.pop_until(limit) {
                            Pop::Event(e) => Some(Some(e)),
                            Pop::Beyond => Some(None),
                            Pop::Empty => None,
                        };
                        prop_assert_eq!(got, r.pop_until(limit));
                    }
                    Op::AdvanceTo(dt) => {
                        // Never past the next event: the simulation advances
                        // the clock only when it stops.
                        let t = q.now().saturating_add(dt).min(r.peek_time().unwrap_or(Nanos::MAX));
                        q.advance_to(t);
                        r.now = r.now.max(t);
                    }
                    Op::Retain(m, k) => {
                        q.retain(|e| e % m != k);
                        r.retain(|e| e % m != k);
                    }
                }
                prop_assert_eq!(q.now(), r.now);
                prop_assert_eq!(q.len(), r.heap.len());
                prop_assert_eq!(q.peek_time(), r.peek_time());
                let mut pending: Vec<Nanos> = q.pending().map(|(t, _)| t).collect();
                let mut want: Vec<Nanos> = r.heap.iter().map(|x| x.0 .0).collect();
                pending.sort_unstable();
                want.sort_unstable();
                prop_assert_eq!(pending, want);
            }
            while let Some(e) = r.pop() {
                prop_assert_eq!(q.pop(), Some(e));
                prop_assert_eq!(q.now(), r.now);
            }
            prop_assert!(q.is_empty());
            prop_assert_eq!(q.pop(), None);
        }
    }

    #[test]
    fn after_is_relative_to_now() {
        let mut q = Events::default();
        q.at(10, 1);
        q.pop();
        q.after(5, 2);
        assert_eq!(q.peek_time(), Some(15));
    }
}
