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
//! order, so they go to FIFO lanes: push and pop are O(1). A lane entry is
//! 24 bytes instead of a heap entry's 40: the event packed into 12 bytes
//! ([`Pack`]; one that does not pack goes to the heap) and its sequence
//! number as the difference from the entry before it (issue 17: the 30 s
//! lease lane, about half of it deleted messages' timers waiting to be
//! swept, was the largest structure per live message after the messages
//! themselves). A lane keeps its entries in blocks of 128 (`blocks.rs`),
//! taken as it grows and given back as it drains, so its memory follows its
//! entries instead of its largest size rounded up to a power of two. The
//! others go to a
//! radix heap (`radix.rs`), which relies on the keys being monotone (nothing
//! is scheduled before the clock): it moves entries sequentially between
//! buckets instead of sifting a binary heap, whose pops were cache misses once
//! it held hundreds of thousands of timers (issue 17: 59% of the time at 1 M
//! in flight). The producer's next arrival, always the only one pending,
//! waits apart in a solo place ([`Events::at_solo`]): a heap push and pop
//! fewer per message (b1 measured 0.87x). `pop` takes the earliest
//! (time, seq) across the heap, the lanes and the solo place, so the order
//! is exactly the one a single binary heap would give (checked against one
//! by a proptest below).

mod blocks;
mod radix;

use crate::duration::Nanos;
use blocks::Blocks;
use radix::{Entry, RadixHeap};

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

/// An event a FIFO lane can hold in 12 bytes. `pack` gives None for an
/// event (or a value of it) that does not fit: it goes to the heap, in the
/// same (time, seq) order.
pub trait Pack: Sized {
    fn pack(&self) -> Option<[u32; 3]>;
    fn unpack(p: [u32; 3]) -> Self;
}

/// A lane's entry: the event packed, its time, and its sequence number less
/// that of the entry before it in the lane.
#[derive(Clone, Copy, Default)]
struct LaneEntry {
    time: Nanos,
    dseq: u32,
    event: [u32; 3],
}

struct Lane {
    delay: Nanos,
    /// In blocks, so that its memory follows its entries (`blocks.rs`).
    queue: Blocks<LaneEntry>,
    /// The front entry's time and sequence number, and the back entry's
    /// sequence number (when not empty): the front's key is read for every
    /// event, without a load from the blocks.
    front_time: Nanos,
    front_seq: u64,
    back_seq: u64,
}

impl Lane {
    /// The front entry's (time, seq).
    #[inline]
    fn front_key(&self) -> Option<(Nanos, u64)> {
        debug_assert!(self.queue.front().is_none_or(|f| f.time == self.front_time), "stale front time");
        (!self.queue.is_empty()).then_some((self.front_time, self.front_seq))
    }

    #[inline]
    fn pop_front(&mut self) -> Option<LaneEntry> {
        let e = self.queue.pop_front()?;
        if let Some(n) = self.queue.front() {
            self.front_seq += u64::from(n.dseq);
            self.front_time = n.time;
        }
        Some(e)
    }
}

/// Where the next event is.
#[derive(Clone, Copy)]
enum Next {
    Heap,
    Lane(usize),
    Solo,
}

/// Pending events and the simulated clock.
pub struct Events<E> {
    heap: RadixHeap<E>,
    lanes: Vec<Lane>,
    /// The one pending event of a chain in which each event schedules the
    /// next (the producer's arrivals; [`Events::at_solo`]), kept out of the
    /// heap: a heap push and pop fewer per message.
    solo: Option<(Nanos, u64, E)>,
    seq: u64,
    now: Nanos,
}

impl<E> Default for Events<E> {
    fn default() -> Self {
        Events { heap: RadixHeap::default(), lanes: Vec::new(), solo: None, seq: 0, now: 0 }
    }
}

impl<E: Pack + Copy> Events<E> {
    /// Bytes held by pending events (heap and lanes, by capacity), for the
    /// memory limit (`limits.rs`).
    pub fn footprint(&self) -> u64 {
        let lanes: usize = self.lanes.iter().map(|l| l.queue.capacity()).sum();
        let blocks: u64 = self.lanes.iter().map(|l| l.queue.overhead_bytes()).sum();
        crate::limits::bytes_of::<Entry<E>>(self.heap.capacity()) + crate::limits::bytes_of::<LaneEntry>(lanes) + blocks
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

    /// Schedule `event` at `time` as the solo event, which must not be
    /// pending (it is the next of a chain: the one before it has run). Its
    /// place in the (time, seq) order is the one [`Events::at`] gives.
    #[inline]
    pub fn at_solo(&mut self, time: Nanos, event: E) {
        debug_assert!(time >= self.now, "event scheduled in the past: {time} < {}", self.now);
        debug_assert!(self.solo.is_none(), "a second solo event");
        self.solo = Some((time.max(self.now), self.seq, event));
        self.seq += 1;
    }

    /// Give events scheduled after exactly `delay` a FIFO lane (no-op if it
    /// has one, or if all lanes are taken).
    pub fn add_lane(&mut self, delay: Nanos) {
        if delay > 0 && self.lanes.len() < MAX_LANES && !self.lanes.iter().any(|l| l.delay == delay) {
            self.lanes.push(Lane { delay, queue: Blocks::default(), front_time: 0, front_seq: 0, back_seq: 0 });
        }
    }

    /// Schedule `event` after `delay` (saturating at the end of time).
    #[inline]
    pub fn after(&mut self, delay: Nanos, event: E) {
        let time = self.now.saturating_add(delay);
        if let Some(lane) = self.lanes.iter_mut().find(|l| l.delay == delay) {
            if let Some(packed) = event.pack() {
                debug_assert!(lane.queue.back().is_none_or(|b| b.time <= time), "lane out of order");
                let seq = self.seq;
                let dseq = if lane.queue.is_empty() {
                    lane.front_seq = seq;
                    lane.front_time = time;
                    Some(0)
                } else {
                    u32::try_from(seq - lane.back_seq).ok()
                };
                // Over 2^32 events since the lane's last entry: the heap.
                if let Some(dseq) = dseq {
                    lane.back_seq = seq;
                    lane.queue.push_back(LaneEntry { time, dseq, event: packed });
                    self.seq += 1;
                    return;
                }
            }
        }
        self.at(time, event);
    }

    /// The source of the earliest pending event.
    #[inline]
    fn next(&self) -> Option<(Nanos, Next)> {
        let mut best = self.heap.peek().map(|(t, s)| (t, s, Next::Heap));
        for (i, lane) in self.lanes.iter().enumerate() {
            if let Some((ft, fs)) = lane.front_key() {
                if best.is_none_or(|(t, s, _)| (ft, fs) < (t, s)) {
                    best = Some((ft, fs, Next::Lane(i)));
                }
            }
        }
        if let Some((ft, fs, _)) = self.solo {
            if best.is_none_or(|(t, s, _)| (ft, fs) < (t, s)) {
                best = Some((ft, fs, Next::Solo));
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
        match self.take(next) {
            Some(e) => Pop::Event(e),
            None => Pop::Empty,
        }
    }

    /// Remove the next event, from `next`, and advance the clock to its time.
    #[inline]
    fn take(&mut self, next: Next) -> Option<E> {
        let (time, event) = match next {
            Next::Heap => {
                let e = self.heap.pop()?;
                (e.time, e.event)
            }
            Next::Lane(i) => {
                let e = self.lanes[i].pop_front()?;
                (e.time, E::unpack(e.event))
            }
            Next::Solo => {
                let (time, _, event) = self.solo.take()?;
                (time, event)
            }
        };
        debug_assert!(time >= self.now, "time went backwards");
        self.now = time;
        Some(event)
    }

    /// Remove the next event and advance the clock to its time.
    #[inline]
    pub fn pop(&mut self) -> Option<E> {
        let next = self.next()?.1;
        self.take(next)
    }

    /// Advance the clock without an event (used when a run stops on its time limit).
    pub fn advance_to(&mut self, time: Nanos) {
        self.now = self.now.max(time);
    }

    pub fn len(&self) -> usize {
        self.heap.len() + self.lanes.iter().map(|l| l.queue.len()).sum::<usize>() + usize::from(self.solo.is_some())
    }

    /// Give back lane memory after a burst: the lanes' spare blocks (a
    /// lane's blocks follow its entries; the radix heap frees its large
    /// buckets as they empty). The entries stay as they are.
    pub fn shrink(&mut self) {
        for lane in &mut self.lanes {
            lane.queue.shrink();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drop every pending event for which `keep` is false (timers known to
    /// be stale), keeping the others' (time, seq) order. O(pending).
    pub fn retain(&mut self, mut keep: impl FnMut(&E) -> bool) {
        if self.solo.as_ref().is_some_and(|(_, _, e)| !keep(e)) {
            self.solo = None;
        }
        let Events { heap, lanes, .. } = self;
        heap.retain(&mut keep);
        for lane in lanes {
            // In place: each kept entry's sequence number becomes its
            // difference from the kept entry before; one too far from it
            // (2^32 events) moves to the heap.
            let mut seq = lane.front_seq;
            let (mut front, mut last): (Option<(Nanos, u64)>, Option<u64>) = (None, None);
            let mut first = true;
            lane.queue.retain(|e| {
                if !first {
                    seq += u64::from(e.dseq);
                }
                first = false;
                if !keep(&E::unpack(e.event)) {
                    return None;
                }
                let dseq = match last.map(|l| u32::try_from(seq - l)) {
                    None => {
                        front = Some((e.time, seq));
                        0
                    }
                    Some(Ok(dseq)) => dseq,
                    Some(Err(_)) => {
                        heap.push(Entry { time: e.time, seq, event: E::unpack(e.event) });
                        return None;
                    }
                };
                last = Some(seq);
                Some(LaneEntry { dseq, ..e })
            });
            (lane.front_time, lane.front_seq) = front.unwrap_or((0, 0));
            lane.back_seq = last.unwrap_or(0);
        }
    }

    /// Every pending event with its time, in no particular order (for
    /// `--paranoid` checks; never used by the simulation itself).
    pub fn pending(&self) -> impl Iterator<Item = (Nanos, E)> + '_ {
        let lanes = self.lanes.iter().flat_map(|l| l.queue.iter()).map(|e| (e.time, E::unpack(e.event)));
        let solo = self.solo.iter().map(|&(t, _, e)| (t, e));
        self.heap.iter().map(|e| (e.time, e.event)).chain(lanes).chain(solo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Test events: numbers below 2^64 - 2^32 pack (their two words, and a
    /// marker); the largest ones do not, and go to the heap.
    impl Pack for u64 {
        fn pack(&self) -> Option<[u32; 3]> {
            (*self < u64::MAX - u64::from(u32::MAX)).then_some([*self as u32, (*self >> 32) as u32, 7])
        }
        fn unpack(p: [u32; 3]) -> u64 {
            assert_eq!(p[2], 7, "unpacked what was not packed");
            u64::from(p[0]) | u64::from(p[1]) << 32
        }
    }

    impl Pack for &str {
        fn pack(&self) -> Option<[u32; 3]> {
            None
        }
        fn unpack(_: [u32; 3]) -> Self {
            unreachable!("never packed")
        }
    }

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
        /// `at_solo(now + dt)`, if no solo event is pending.
        Solo(Nanos),
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
            3 => delay().prop_map(Op::Solo),
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
        /// heap, with the same clock, length and next time after every step,
        /// whether an event goes to the heap, a lane or the solo place.
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
            let mut n = 0u64;
            // Every fifth event does not pack: it goes to the heap even
            // when its delay has a lane.
            let mut next_event = || {
                n += 1;
                if n.is_multiple_of(5) { u64::MAX - n } else { n }
            };
            for op in ops {
                match op {
                    Op::At(dt) => {
                        let t = q.now().saturating_add(dt);
                        let e = next_event();
                        q.at(t, e);
                        r.at(t, e);
                    }
                    Op::After(d) => {
                        let e = next_event();
                        q.after(d, e);
                        r.after(d, e);
                    }
                    Op::Solo(dt) => {
                        if q.solo.is_none() {
                            let t = q.now().saturating_add(dt);
                            let e = next_event();
                            q.at_solo(t, e);
                            r.at(t, e);
                        }
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
    fn lane_entries_are_24_bytes() {
        assert_eq!(std::mem::size_of::<LaneEntry>(), 24);
    }

    #[test]
    fn an_event_2_pow_32_events_after_its_lanes_last_goes_to_the_heap_in_order() {
        // A lane entry keeps its sequence number as a 32-bit difference
        // from the one before: past that, events go to the heap (until the
        // lane has emptied), and the order is still (time, seq).
        let mut q: Events<u64> = Events::default();
        q.add_lane(10);
        q.after(10, 1);
        q.seq += 1 << 33;
        q.after(10, 2);
        q.after(10, 3);
        q.at(10, 4);
        assert_eq!((q.heap.len(), q.lanes[0].queue.len()), (3, 1));
        let order: Vec<u64> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec![1, 2, 3, 4]);
        q.after(10, 5);
        assert_eq!(q.lanes[0].queue.len(), 1, "an empty lane takes events again");
    }

    #[test]
    fn a_sweep_that_leaves_2_pow_32_events_between_lane_entries_moves_the_later_to_the_heap() {
        let mut q: Events<u64> = Events::default();
        q.add_lane(10);
        q.after(10, 1);
        for i in 0..4u64 {
            q.after(10, 100 + i); // dropped below
            q.seq += 1 << 30;
        }
        q.after(10, 2);
        q.after(10, 3);
        assert_eq!(q.lanes[0].queue.len(), 7, "each step under 2^32: all in the lane");
        q.retain(|&e| e < 100);
        assert_eq!((q.heap.len(), q.lanes[0].queue.len()), (2, 1), "2 and 3 are over 2^32 after 1: moved to the heap");
        q.after(10, 4);
        let order: Vec<u64> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec![1, 2, 3, 4]);
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
