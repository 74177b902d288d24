//! A radix heap: the priority queue of [`super::Events`] for events at
//! arbitrary times, ordered by the key (time, seq).
//!
//! The keys a simulation pops are monotone: nothing is scheduled before the
//! clock, and the sequence number only grows, so every key pushed is larger
//! than the last key popped (`last`). A radix heap uses that: an entry sits in
//! the bucket numbered by the highest bit in which its key differs from
//! `last` (bucket 0: equal; 1..=64: same time, differing seq; 65..=128:
//! differing time). Every key of a lower bucket is smaller than every key of
//! a higher one, so the smallest key is in the lowest occupied bucket. When
//! it is popped it becomes `last`, and only the rest of its bucket is moved,
//! each entry to a strictly lower bucket; the entries of other buckets keep
//! their bucket. An entry therefore moves at most 128 times, in practice a
//! few, and every move is a sequential copy instead of the random accesses
//! of a binary heap's sift-down, which are cache misses once a heap holds
//! hundreds of thousands of timers.
//!
//! `last` may only advance when the smallest entry is really popped (another
//! source, a FIFO lane, may win, and events may then be scheduled between the
//! clock and this heap's smallest key), so the smallest entry is found by a
//! scan of its bucket and remembered (`min`) rather than made `last` early.
//! Keys are unique (seq is), so the order is exactly (time, seq).
//!
//! Memory: a large bucket's allocation is freed when it is spilled, and it
//! grows back by a quarter of the size it had at its last spill rather than
//! by doubling ([`push_to`]), so the buckets hold about 1.2 places per
//! pending entry instead of 1.5.

/// One pending event and its key.
pub(super) struct Entry<E> {
    pub time: u64,
    pub seq: u64,
    pub event: E,
}

impl<E> Entry<E> {
    #[inline]
    fn key(&self) -> (u64, u64) {
        (self.time, self.seq)
    }
}

const BUCKETS: usize = 129;

/// An emptied bucket keeps an allocation of up to this many entries.
const KEEP: usize = 256;

/// Push `e` to bucket `bucket`, which held `last_peak` entries when it
/// was last spilled (0: never). A bucket of [`KEEP`] places or more that
/// has been spilled before grows by a quarter of that peak (of its own
/// size, once past it), not by doubling: a large bucket fills and is
/// spilled again and again with about as many entries each time, and
/// doubling left the large buckets 50-75% full (b6: 1.29M places for 690k
/// timers). The peak counts for at most twice the bucket's size, so after
/// a burst a small bucket does not grow by a quarter of the burst.
#[inline]
fn push_to<E>(bucket: &mut Vec<Entry<E>>, e: Entry<E>, last_peak: u32) {
    if bucket.len() == bucket.capacity() {
        grow(bucket, last_peak as usize);
    }
    bucket.push(e);
}

#[cold]
#[inline(never)]
fn grow<E>(bucket: &mut Vec<Entry<E>>, last_peak: usize) {
    let len = bucket.len();
    if len < KEEP || last_peak == 0 {
        bucket.reserve(1);
    } else {
        bucket.reserve_exact(len.max(last_peak.min(2 * len)) / 4);
    }
}

/// Where the smallest entry is, and its key.
#[derive(Clone, Copy)]
struct Min {
    time: u64,
    seq: u64,
    bucket: u32,
    index: usize,
}

pub(super) struct RadixHeap<E> {
    /// `buckets[b]`: entries whose key differs from `last` first at bit b-1
    /// (of the 128-bit key time·2^64 + seq), in no order.
    buckets: Vec<Vec<Entry<E>>>,
    /// Entries each bucket held when it was last spilled (see [`push_to`]).
    peaks: [u32; BUCKETS],
    /// Bit b set when bucket b is not empty.
    occupied: [u64; 3],
    /// The last key popped (or (0, 0)); no key below it is ever pushed.
    last: (u64, u64),
    min: Option<Min>,
    len: usize,
}

/// The bucket of `key` relative to `last` (`key >= last`).
#[inline]
fn bucket_of(key: (u64, u64), last: (u64, u64)) -> usize {
    debug_assert!(key >= last, "key {key:?} below the last popped {last:?}");
    let t = key.0 ^ last.0;
    if t != 0 {
        128 - t.leading_zeros() as usize
    } else {
        64 - (key.1 ^ last.1).leading_zeros() as usize
    }
}

impl<E> Default for RadixHeap<E> {
    fn default() -> Self {
        RadixHeap {
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
            peaks: [0; BUCKETS],
            occupied: [0; 3],
            last: (0, 0),
            min: None,
            len: 0,
        }
    }
}

impl<E> RadixHeap<E> {
    pub fn len(&self) -> usize {
        self.len
    }

    /// Entries the buckets can hold without growing.
    pub fn capacity(&self) -> usize {
        self.buckets.iter().map(Vec::capacity).sum()
    }

    /// The smallest key.
    #[inline]
    pub fn peek(&self) -> Option<(u64, u64)> {
        self.min.map(|m| (m.time, m.seq))
    }

    /// The event with the smallest key.
    #[inline]
    pub fn peek_event(&self) -> Option<&E> {
        self.min.map(|m| &self.buckets[m.bucket as usize][m.index].event)
    }

    #[inline]
    fn mark(&mut self, b: usize) {
        self.occupied[b / 64] |= 1 << (b % 64);
    }

    #[inline]
    fn unmark(&mut self, b: usize) {
        self.occupied[b / 64] &= !(1 << (b % 64));
    }

    /// The lowest occupied bucket.
    #[inline]
    fn first_occupied(&self) -> Option<usize> {
        self.occupied.iter().enumerate().find(|(_, w)| **w != 0).map(|(i, w)| i * 64 + w.trailing_zeros() as usize)
    }

    /// Add an entry; its key must not be below the last popped key.
    #[inline]
    pub fn push(&mut self, e: Entry<E>) {
        let key = e.key();
        let b = bucket_of(key, self.last);
        let index = self.buckets[b].len();
        push_to(&mut self.buckets[b], e, self.peaks[b]);
        self.mark(b);
        self.len += 1;
        if self.min.is_none_or(|m| key < (m.time, m.seq)) {
            self.min = Some(Min { time: key.0, seq: key.1, bucket: b as u32, index });
        }
    }

    /// Remove the entry with the smallest key.
    #[inline]
    pub fn pop(&mut self) -> Option<Entry<E>> {
        let m = self.min?;
        let b = m.bucket as usize;
        let e = self.buckets[b].swap_remove(m.index);
        debug_assert!(e.key() == (m.time, m.seq));
        self.len -= 1;
        self.last = e.key();
        self.min = None;
        if self.buckets[b].is_empty() {
            self.unmark(b);
            self.find_min();
        } else {
            self.spill(b);
        }
        Some(e)
    }

    /// Move every entry of bucket `b` (the lowest occupied, whose smallest
    /// key just became `last`) to the lower bucket it now belongs to, noting
    /// the smallest on the way.
    fn spill(&mut self, b: usize) {
        let mut from = std::mem::take(&mut self.buckets[b]);
        // Its size before the pop that emptied its smallest entry.
        self.peaks[b] = u32::try_from(from.len() + 1).unwrap_or(u32::MAX);
        self.unmark(b);
        let mut min: Option<Min> = None;
        // Buckets below b < 129: two words, marked locally.
        let mut occupied = [0u64; 2];
        for e in from.drain(..) {
            let key = e.key();
            let nb = bucket_of(key, self.last);
            debug_assert!(nb < b, "an entry did not move down");
            let index = self.buckets[nb].len();
            push_to(&mut self.buckets[nb], e, self.peaks[nb]);
            occupied[(nb >> 6) & 1] |= 1 << (nb & 63);
            if min.is_none_or(|m| key < (m.time, m.seq)) {
                min = Some(Min { time: key.0, seq: key.1, bucket: nb as u32, index });
            }
        }
        self.occupied[0] |= occupied[0];
        self.occupied[1] |= occupied[1];
        // Keep a small allocation (this bucket fills again), free a large
        // one: each bucket keeping its own largest size would hold several
        // times the entries pending (every bucket is, at some time, the one
        // most of them pass through). Regrowing is amortised over the entries
        // that fill it, which are also the ones that will be moved out.
        if from.capacity() <= KEEP {
            self.buckets[b] = from;
        }
        self.min = min;
    }

    /// Find the smallest entry by a scan of the lowest occupied bucket.
    fn find_min(&mut self) {
        self.min = self.first_occupied().and_then(|b| {
            self.buckets[b].iter().enumerate().min_by_key(|(_, e)| e.key()).map(|(i, e)| Min {
                time: e.time,
                seq: e.seq,
                bucket: b as u32,
                index: i,
            })
        });
    }

    /// Drop every entry for which `keep` is false.
    pub fn retain(&mut self, mut keep: impl FnMut(&E) -> bool) {
        for b in 0..BUCKETS {
            self.buckets[b].retain(|e| keep(&e.event));
            if self.buckets[b].is_empty() {
                self.unmark(b);
            }
        }
        self.len = self.buckets.iter().map(Vec::len).sum();
        self.find_min();
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Entry<E>> + '_ {
        self.buckets.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reproducible stream of delays for the tests (xorshift).
    fn delays(mut x: u64) -> impl FnMut(u64) -> u64 {
        move |span| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % span
        }
    }

    /// Large buckets (spilled and freed) pop exactly like a plain heap.
    #[test]
    fn a_large_hold_pops_like_a_plain_heap() {
        use std::cmp::Reverse;
        let mut h: RadixHeap<u64> = RadixHeap::default();
        let mut plain = std::collections::BinaryHeap::new();
        let mut d = delays(7);
        let mut seq = 0;
        for i in 0..5000 {
            let time = d(1 << 24);
            h.push(Entry { time, seq, event: i });
            plain.push(Reverse((time, seq, i)));
            seq += 1;
        }
        for _ in 0..50_000 {
            let e = h.pop().expect("never empty");
            let Reverse(want) = plain.pop().expect("never empty");
            assert_eq!((e.time, e.seq, e.event), want);
            // Ties (delay 0) and far keys alike.
            let time = e.time + if seq % 5 == 0 { 0 } else { d(1 << 24) };
            h.push(Entry { time, seq, event: e.event });
            plain.push(Reverse((time, seq, e.event)));
            seq += 1;
            assert_eq!(h.peek(), plain.peek().map(|r| (r.0 .0, r.0 .1)));
            assert_eq!(h.peek_event(), plain.peek().map(|r| &r.0 .2), "peek_event names the entry pop gives next");
        }
        assert_eq!(h.len(), plain.len());
    }

    /// The buckets hold at most twice the pending entries (a Vec grows by
    /// doubling and a large bucket's allocation is freed when it is
    /// emptied), plus up to `KEEP` entries per bucket: the footprint
    /// follows the pending count up and down instead of the sum of every
    /// bucket's largest size.
    /// `n` entries pending at random times, then `pops` times: pop the
    /// smallest and push it back at a random later time, after which `look`
    /// sees the pop's number and the heap. The heap, still holding `n`.
    fn steady(seed: u64, n: u64, pops: u64, mut look: impl FnMut(u64, &RadixHeap<u64>)) -> RadixHeap<u64> {
        let mut h: RadixHeap<u64> = RadixHeap::default();
        let mut d = delays(seed);
        let mut seq = 0;
        for i in 0..n {
            h.push(Entry { time: d(1 << 37), seq, event: i });
            seq += 1;
        }
        for i in 0..pops {
            let e = h.pop().expect("never empty");
            h.push(Entry { time: e.time + d(1 << 37), seq, event: e.event });
            seq += 1;
            look(i, &h);
        }
        h
    }

    #[test]
    fn capacity_follows_the_pending_entries() {
        let bound = |h: &RadixHeap<u64>| 2 * h.len() + BUCKETS * KEEP;
        let mut h = steady(11, 20_000, 200_000, |i, h| {
            if i % 97 == 0 {
                assert!(h.capacity() <= bound(h), "capacity {} for {} entries", h.capacity(), h.len());
            }
        });
        while h.pop().is_some() {}
        assert!(h.capacity() <= BUCKETS * KEEP, "capacity {} once empty", h.capacity());
    }

    /// With a steady number pending, the large buckets fill and spill
    /// cycle after cycle with about as many entries; grown by a quarter of
    /// their last peak they hold fewer empty places than doubling leaves.
    /// Here doubling measured 1.49 places per pending entry on average and
    /// 1.89 at worst; a quarter of the peak 1.21 and 1.68.
    #[test]
    fn large_buckets_grow_by_their_last_peak_not_by_doubling() {
        let (mut worst, mut sum, mut samples) = (0.0f64, 0.0, 0.0);
        steady(13, 200_000, 2_000_000, |i, h| {
            // After the first cycles, whose buckets have no peak yet.
            if i >= 600_000 && i % 1009 == 0 {
                let places = h.capacity() as f64 / h.len() as f64;
                worst = worst.max(places);
                sum += places;
                samples += 1.0;
            }
        });
        let mean = sum / samples;
        assert!(mean < 1.35, "{mean:.2} places per pending entry on average");
        assert!(worst < 1.8, "up to {worst:.2} places per pending entry");
    }
}
