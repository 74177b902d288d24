//! Compaction of a message ring (`sqs.rs`, `jetstream.rs`).
//!
//! Both brokers keep messages in a ring indexed by id (send order, stream
//! sequence), where a finished message is a tombstone until the front passes
//! it. One long-lived message at the front (a poison message redelivered for
//! days) would pin the tombstones of every message after it. So when a ring
//! holds more than twice its live messages plus [`RING_SLACK`], the live
//! messages at its front move to a map keyed by id (`far`, a [`FarMap`])
//! and the tombstones behind them are dropped. Each message moves at most
//! once, so the cost is amortised over the removals that made the ring
//! sparse, and memory follows the live messages.
//!
//! `far` is a hash map, not an ordered one: with hundreds of thousands of
//! messages in flight for minutes (b6), most lookups, deletes and lease
//! timers land there, and a B-tree cost several cache misses a lookup and a
//! shift of its leaf on every removal (about 15% of that run). Nothing that
//! reaches a result iterates it in its own order: the retention check sorts
//! the ids it expires. The hash is a fixed multiplication, so runs are
//! reproducible whatever the process.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// Live messages moved out of a ring's front, by id.
pub type FarMap<M> = HashMap<u64, M, BuildHasherDefault<IdHasher>>;

/// Hashes a message id by Fibonacci multiplication: ids are consecutive,
/// and the product spreads them over the table's high and low bits alike.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    #[inline]
    fn write_u64(&mut self, id: u64) {
        self.0 = (self.0 ^ id).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Remove `id` from `far`, giving back memory once the map is mostly empty
/// (a hash map never shrinks by itself, and a burst of long-lived messages
/// would otherwise hold its peak size for the rest of the run).
#[inline]
pub fn far_remove<M>(far: &mut FarMap<M>, id: u64) {
    far.remove(&id);
    if far.capacity() > 4 * far.len() + 64 {
        far.shrink_to(2 * far.len());
    }
}

/// Start loading message `id` of `ring` (whose front has id `base`) into
/// the cache, if the ring holds it (a hint: see `prefetch.rs`).
#[inline]
pub fn prefetch<M>(ring: &VecDeque<M>, base: u64, id: u64) {
    if let Some(m) = id.checked_sub(base).and_then(|i| ring.get(i as usize)) {
        crate::prefetch::prefetch(m);
    }
}

/// Tombstones a ring may hold beyond twice its live messages before it is
/// compacted (a few hundred KiB; compaction is then rare).
pub const RING_SLACK: usize = 4096;

/// Whether a ring of `len` entries, `live_in_ring` of them live, is sparse
/// enough to compact.
#[inline]
pub fn sparse(len: usize, live_in_ring: usize) -> bool {
    len > 2 * live_in_ring + RING_SLACK
}

/// Drop the tombstones at the front of `ring` (whose front has id `base`),
/// never moving the front past id `stop`.
#[inline]
pub fn drop_front_tombstones<M>(ring: &mut VecDeque<M>, base: &mut u64, stop: u64, gone: impl Fn(&M) -> bool) {
    while ring.front().is_some_and(&gone) && *base < stop {
        ring.pop_front();
        *base += 1;
    }
}

/// Compact `ring` (whose front has id `base`; `live` messages in all, ring
/// and `far`): move live messages from its front to `far` and drop
/// tombstones, until it holds at most twice its live messages plus half the
/// slack, never moving the front past id `stop`. Then drop the tombstones now
/// at the front, and give back memory the ring no longer needs.
#[cold]
pub fn compact<M>(
    ring: &mut VecDeque<M>,
    base: &mut u64,
    far: &mut FarMap<M>,
    live: usize,
    stop: u64,
    gone: impl Fn(&M) -> bool,
) {
    while ring.len() > 2 * (live - far.len()) + RING_SLACK / 2 && *base < stop {
        let Some(m) = ring.pop_front() else { break };
        if !gone(&m) {
            far.insert(*base, m);
        }
        *base += 1;
    }
    drop_front_tombstones(ring, base, stop, gone);
    if ring.capacity() > 4 * ring.len().max(RING_SLACK) {
        ring.shrink_to(2 * ring.len().max(RING_SLACK));
    }
}

/// Bytes held by `far`: its buckets (an entry and a control byte each; a
/// table of `capacity` entries has at least capacity * 8 / 7 buckets).
pub fn far_bytes<M>(far: &FarMap<M>) -> u64 {
    let buckets = far.capacity() * 8 / 7;
    crate::limits::bytes_of::<(u64, M)>(buckets) + buckets as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_front_moves_out_and_the_tombstones_behind_it_go() {
        // id 1 is live; ids 2..=10_000 are tombstones; 10_001..=10_010 live.
        let mut ring: VecDeque<bool> = (1..=10_010u64).map(|id| id == 1 || id > 10_000).collect();
        let (mut base, mut far) = (1, FarMap::default());
        assert!(sparse(ring.len(), 11));
        compact(&mut ring, &mut base, &mut far, 11, u64::MAX, |live| !live);
        assert_eq!(far.keys().copied().collect::<Vec<_>>(), vec![1]);
        assert_eq!(base, 10_001, "the ring starts at the first live message after the tombstones");
        assert_eq!(ring.len(), 10);
        assert!(ring.iter().all(|&live| live));
    }

    #[test]
    fn far_gives_back_memory_as_its_messages_finish() {
        let mut far: FarMap<[u64; 9]> = FarMap::default();
        for id in 0..100_000u64 {
            far.insert(id, [id; 9]);
        }
        let full = far_bytes(&far);
        assert!(full >= crate::limits::bytes_of::<(u64, [u64; 9])>(100_000));
        for id in 10..100_000u64 {
            far_remove(&mut far, id);
        }
        assert_eq!(far.len(), 10);
        assert!(far_bytes(&far) < full / 1000, "{} bytes held for 10 messages", far_bytes(&far));
        assert!((0..10).all(|id| far.get(&id) == Some(&[id; 9])), "the survivors are intact");
    }

    #[test]
    fn far_iterates_in_the_same_order_in_every_process() {
        // A fixed hash: no per-process random state (RandomState would make
        // a run's trace depend on the process if anything iterated it).
        let order = || {
            let mut far: FarMap<u64> = FarMap::default();
            for id in (0..1000u64).map(|i| i * 7919 % 1000) {
                far.insert(id, id);
            }
            far.keys().copied().collect::<Vec<_>>()
        };
        assert_eq!(order(), order());
        let hash = |id: u64| {
            use std::hash::{BuildHasher, Hasher};
            let mut h = BuildHasherDefault::<IdHasher>::default().build_hasher();
            h.write_u64(id);
            h.finish()
        };
        assert_eq!(hash(1), 0x9E37_79B9_7F4A_7C15, "Fibonacci hashing of 1");
    }

    #[test]
    fn compaction_stops_at_the_stop_id() {
        let mut ring: VecDeque<bool> = (1..=10_010u64).map(|id| id == 1).collect();
        let (mut base, mut far) = (1, FarMap::default());
        compact(&mut ring, &mut base, &mut far, 1, 500, |live| !live);
        assert_eq!(base, 500, "never past the stop id");
        assert_eq!(far.len(), 1);
    }
}
