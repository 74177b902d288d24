//! The event queue: a binary heap ordered by (time, sequence number).
//!
//! The sequence number is a global counter taken when an event is scheduled,
//! so two events at the same instant run in the order they were scheduled.
//! Cancelled timers are not searched for in the heap: each carries a
//! generation number and is recognised as stale when it fires.
//!
//! Events scheduled after a fixed delay that recurs (the queue's visibility
//! timeout, a long poll's wait, a heartbeat interval) are already in time
//! order, so they go to FIFO lanes instead of the heap: push and pop are
//! O(1). `pop` takes the earliest (time, seq) across the heap and the lanes,
//! so the order is exactly the one a single heap would give.

use crate::duration::Nanos;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

/// At most this many lanes; further delays use the heap.
const MAX_LANES: usize = 8;

struct Entry<E> {
    time: Nanos,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}

impl<E> Eq for Entry<E> {}

impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Entry<E> {
    /// Reversed, so that the max-heap pops the earliest (time, seq) first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

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
    heap: BinaryHeap<Entry<E>>,
    lanes: Vec<Lane<E>>,
    seq: u64,
    now: Nanos,
}

impl<E> Default for Events<E> {
    fn default() -> Self {
        Events { heap: BinaryHeap::with_capacity(1024), lanes: Vec::new(), seq: 0, now: 0 }
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
        let mut best = self.heap.peek().map(|e| (e.time, e.seq, Next::Heap));
        for (i, lane) in self.lanes.iter().enumerate() {
            if let Some(f) = lane.queue.front() {
                if best.is_none_or(|(t, s, _)| (f.time, f.seq) < (t, s)) {
                    best = Some((f.time, f.seq, Next::Lane(i)));
                }
            }
        }
        best.map(|(t, _, n)| (t, n))
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
        self.heap.retain(|e| keep(&e.event));
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

    #[test]
    fn after_is_relative_to_now() {
        let mut q = Events::default();
        q.at(10, 1);
        q.pop();
        q.after(5, 2);
        assert_eq!(q.peek_time(), Some(15));
    }
}
