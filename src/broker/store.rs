//! Messages by id, for `sqs.rs` and `jetstream.rs`: a slab of messages and
//! an index from id to slab slot.
//!
//! Both brokers give ids in send order (message id, stream sequence) and
//! look messages up by id. Messages sit in a slab (`Vec<M>`) whose free
//! slots are reused, last freed first, so the slab holds about as many
//! messages as are live at once, whatever order they finish in, and a new
//! message takes a slot whose cache line was touched by the message just
//! finished. The index is a ring of 4-byte slab slots, one per id from
//! `base` on: a finished message leaves its entry there until the front
//! passes it, 4 bytes instead of a whole message (issue 17: the ring of
//! messages itself held twice the live messages at 72 bytes each).
//!
//! Each message keeps its own id ([`Stored`]), and a freed slot's id is 0,
//! so an index entry is never updated when its message is freed: a lookup
//! checks that the slot still holds the id it asked for. A broker's receipt
//! handle names the slot (`Handle::at`), so a delete or a heartbeat goes
//! straight to the message with the same check ([`Store::get_at`]) and
//! never reads the index: with hundreds of thousands of messages in flight
//! that read would be a cache miss of its own.
//!
//! One long-lived message at the front (a poison message redelivered for
//! days) would still pin the index entries of every message after it. So
//! when the index holds more than twice its live messages plus
//! [`RING_SLACK`], the live entries at its front move to a map keyed by id
//! (`far`, a [`FarMap`]) and the stale ones behind them are dropped. Each
//! entry moves at most once, so the cost is amortised over the removals
//! that made the index sparse, and memory follows the live messages.
//!
//! `far` is a hash map, not an ordered one: with hundreds of thousands of
//! messages in flight for minutes (b6), many lookups land there, and a
//! B-tree cost several cache misses a lookup. Nothing that reaches a result
//! iterates it, or the slab, in its own order: the retention check sorts the
//! ids it expires. The hash is a fixed multiplication, so runs are
//! reproducible whatever the process.
//!
//! After a burst the slab would keep its peak size, so [`Store::shrink`]
//! moves the messages of its upper part into free slots below and gives the
//! rest back once it holds more than four times its messages. A handle
//! naming a moved message's old slot still finds it, by id
//! ([`Store::find`]).
//!
//! A message stays readable until it is [`Store::free`]d or the front passes
//! it: a broker that may bring a finished message back (a Pub/Sub ordering
//! replay) marks it finished and keeps it, and [`Store::drop_front`] frees it
//! when the front passes.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// Live messages' slab slots, for ids older than the index's front.
pub type FarMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

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

/// A message that knows its id (0: its slot is free). Ids start at 1.
/// A message gives access to its [`Id48`] field; the rest is provided.
pub trait Stored {
    fn id48(&self) -> Id48;
    fn id48_mut(&mut self) -> &mut Id48;

    #[inline]
    fn id(&self) -> u64 {
        self.id48().get()
    }

    #[inline]
    fn set_id(&mut self, id: u64) {
        *self.id48_mut() = Id48::new(id);
    }

    /// Whether this is message `id` (the packed ids compared whole, cheaper
    /// than `id()`).
    #[inline]
    fn is(&self, id: u64) -> bool {
        self.id48() == Id48::new(id)
    }
}

/// A message id in 6 bytes, to fit where a message has padding left (ids
/// stay below 2^48: at 3 M messages a second that is three years).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C, packed(2))]
pub struct Id48 {
    lo: u32,
    hi: u16,
}

impl Id48 {
    #[inline]
    pub fn new(id: u64) -> Id48 {
        debug_assert!(id < 1 << 48, "message id {id} past 2^48");
        Id48 { lo: id as u32, hi: (id >> 32) as u16 }
    }

    #[inline]
    pub fn get(self) -> u64 {
        let (lo, hi) = (self.lo, self.hi);
        u64::from(lo) | u64::from(hi) << 32
    }
}

/// Stale entries the index may hold beyond twice its live messages before
/// it is compacted (16 KiB; compaction is then rare).
pub const RING_SLACK: usize = 4096;

/// The slab grows by a quarter of its size (at least this many slots) when
/// full, so that it holds at most 1.25 times the most messages live at once.
const SLAB_GROWTH_MIN: usize = 256;

/// A slab is shrunk once it has more than four times its messages plus
/// this many slots (a megabyte or so of messages: small runs never move
/// one).
pub const SHRINK_ABOVE: usize = 16_384;

/// Messages of type `M` by id.
pub struct Store<M> {
    /// Slab slot of message `base + i`; stale once that slot holds another
    /// id (the message was freed).
    index: VecDeque<u32>,
    /// Id of `index[0]`.
    base: u64,
    /// Slab slots of messages older than `base`, moved out of the index by
    /// [`Store::compact`].
    far: FarMap<u32>,
    slab: Vec<M>,
    /// Freed slab slots, the last freed on top.
    free: Vec<u32>,
    /// [`RING_SLACK`] (smaller in tests, to compact often).
    slack: usize,
    /// [`SHRINK_ABOVE`] (smaller in tests and with
    /// `RunOptions::shrink_stores_above`).
    shrink_above: u32,
    /// Whether [`Store::shrink`] has moved a message: from then on a handle
    /// whose slot no longer holds its message looks it up by id.
    moved: bool,
}

impl<M: Stored> Store<M> {
    /// An empty store whose first message will have id 1.
    pub fn new() -> Store<M> {
        Store {
            index: VecDeque::with_capacity(1024),
            base: 1,
            far: FarMap::default(),
            slab: Vec::with_capacity(1024),
            free: Vec::new(),
            slack: RING_SLACK,
            shrink_above: SHRINK_ABOVE as u32,
            moved: false,
        }
    }

    /// The id the next [`Store::push`] gives.
    #[inline]
    pub fn next_id(&self) -> u64 {
        self.base + self.index.len() as u64
    }

    /// Messages held: live ones, and finished ones kept for a replay.
    pub fn len(&self) -> usize {
        self.slab.len() - self.free.len()
    }

    /// Whether no message is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slot of message `id`, if it is held.
    #[inline]
    pub fn slot_of(&self, id: u64) -> Option<u32> {
        let s = match id.checked_sub(self.base) {
            Some(i) => *self.index.get(i as usize)?,
            None => *self.far.get(&id)?,
        };
        self.slab[s as usize].is(id).then_some(s)
    }

    /// Message `id`, unless it was freed (or never sent).
    #[inline]
    pub fn get(&self, id: u64) -> Option<&M> {
        let s = self.slot_of(id)?;
        Some(&self.slab[s as usize])
    }

    #[inline]
    pub fn get_mut(&mut self, id: u64) -> Option<&mut M> {
        let s = self.slot_of(id)?;
        Some(&mut self.slab[s as usize])
    }

    /// The slot of message `id`, named by a handle as `at`, unless the
    /// message was freed: `at` itself, with no index read, unless
    /// [`Store::shrink`] moved the message since. (Id 0, a handle never
    /// issued, names no message, even at a free slot.)
    #[inline]
    pub fn find(&self, at: u32, id: u64) -> Option<u32> {
        match self.slab.get(at as usize) {
            Some(m) if id != 0 && m.is(id) => Some(at),
            _ => self.moved_to(id),
        }
    }

    /// Where message `id` is, once a handle's slot no longer holds it: found
    /// by id if a shrink may have moved it, else freed.
    #[cold]
    #[inline(never)]
    fn moved_to(&self, id: u64) -> Option<u32> {
        if self.moved {
            self.slot_of(id)
        } else {
            None
        }
    }

    /// Message `id` found from slot `at` (a handle's), unless it was freed.
    #[inline]
    pub fn get_at(&self, at: u32, id: u64) -> Option<&M> {
        match self.slab.get(at as usize) {
            Some(m) if id != 0 && m.is(id) => Some(m),
            _ => self.moved_to(id).map(|s| &self.slab[s as usize]),
        }
    }

    #[inline]
    pub fn get_at_mut(&mut self, at: u32, id: u64) -> Option<&mut M> {
        match self.find(at, id) {
            Some(s) => Some(&mut self.slab[s as usize]),
            None => None,
        }
    }

    /// The message at slot `at`, found by [`Store::slot_of`] or
    /// [`Store::push`] since the last change to the store.
    #[inline]
    pub fn at(&self, at: u32) -> &M {
        &self.slab[at as usize]
    }

    #[inline]
    pub fn at_mut(&mut self, at: u32) -> &mut M {
        &mut self.slab[at as usize]
    }

    /// Start loading the message at slot `at` into the cache (a hint: see
    /// `prefetch.rs`).
    #[inline]
    pub fn prefetch(&self, at: u32) {
        if let Some(m) = self.slab.get(at as usize) {
            crate::prefetch::prefetch(m);
        }
    }

    /// Store `m` as message [`Store::next_id`]; its slot.
    #[inline(always)]
    pub fn push(&mut self, mut m: M) -> u32 {
        m.set_id(self.next_id());
        let s = match self.free.pop() {
            Some(s) => {
                self.slab[s as usize] = m;
                s
            }
            None => {
                if self.slab.len() == self.slab.capacity() {
                    self.grow();
                }
                self.slab.push(m);
                debug_assert!(self.slab.len() <= u32::MAX as usize, "more than 2^32 messages held at once");
                (self.slab.len() - 1) as u32
            }
        };
        self.index.push_back(s);
        s
    }

    #[cold]
    fn grow(&mut self) {
        self.slab.reserve_exact((self.slab.len() / 4).max(SLAB_GROWTH_MIN));
    }

    /// Free the message at slot `at`: it can no longer be read. Its index
    /// entry is left as it is (stale from now on), so nothing but the
    /// message's own cache line is written, and `far` if it is there.
    #[inline]
    pub fn free(&mut self, at: u32) {
        let m = &mut self.slab[at as usize];
        let id = m.id();
        if id == 0 {
            return;
        }
        m.set_id(0);
        self.free.push(at);
        if id < self.base {
            self.far.remove(&id);
            // A hash map never shrinks by itself, and a burst of
            // long-lived messages would otherwise hold its peak size for
            // the rest of the run.
            if let Some(keep) = crate::limits::give_back(self.far.len(), self.far.capacity(), 64) {
                self.far.shrink_to(keep);
            }
        }
    }

    /// Drop the front of the index while its message is freed or finished
    /// (`gone`, then freed here), never moving the front past id `stop`.
    #[inline]
    pub fn drop_front(&mut self, stop: u64, gone: impl Fn(&M) -> bool) {
        while self.base < stop {
            let Some(&s) = self.index.front() else { break };
            let m = &mut self.slab[s as usize];
            if m.is(self.base) {
                if !gone(m) {
                    break;
                }
                m.set_id(0);
                self.free.push(s);
            }
            self.index.pop_front();
            self.base += 1;
        }
    }

    /// Message `id` was just freed, or marked finished (`gone`): if it was
    /// the index's front, drop the front up to the next live message, never
    /// past id `stop`. Any other removal leaves the front as it was, live
    /// (every removal goes through here, and compaction ends the same way),
    /// so the front need not be read.
    #[inline]
    pub fn removed(&mut self, id: u64, stop: u64, gone: impl Fn(&M) -> bool) {
        if id == self.base {
            self.drop_front(stop, gone);
        } else {
            debug_assert!(
                self.base >= stop
                    || self.index.front().is_none_or(|&s| {
                        let m = &self.slab[s as usize];
                        m.is(self.base) && !gone(m)
                    }),
                "the index's front {} was stale before message {id} was removed",
                self.base
            );
        }
    }

    /// Whether the index is sparse enough to compact, with `live` messages
    /// held in all (index and `far`).
    #[inline]
    pub fn sparse(&self, live: usize) -> bool {
        self.index.len() > 2 * (live - self.far.len()) + self.slack
    }

    /// Compact the index (`live` messages held in all): move the entries of
    /// messages from its front to `far` and drop stale ones, until it holds
    /// at most twice its live messages plus half the slack, never moving the
    /// front past id `stop`. Then drop what is now stale or `gone` at the
    /// front, and give back memory the index no longer needs.
    #[cold]
    pub fn compact(&mut self, live: usize, stop: u64, gone: impl Fn(&M) -> bool) {
        while self.index.len() > 2 * (live - self.far.len()) + self.slack / 2 && self.base < stop {
            let Some(s) = self.index.pop_front() else { break };
            let m = &mut self.slab[s as usize];
            if m.is(self.base) {
                if gone(m) {
                    m.set_id(0);
                    self.free.push(s);
                } else {
                    self.far.insert(self.base, s);
                }
            }
            self.base += 1;
        }
        self.drop_front(stop, gone);
        if self.index.capacity() > 4 * self.index.len().max(self.slack) {
            self.index.shrink_to(2 * self.index.len().max(self.slack));
        }
    }

    /// See [`SHRINK_ABOVE`].
    pub fn set_shrink_above(&mut self, slots: usize) {
        self.shrink_above = u32::try_from(slots).unwrap_or(u32::MAX);
    }

    /// Whether the slab holds more than four times its messages (plus
    /// [`SHRINK_ABOVE`] slots): time to [`Store::shrink`] it.
    #[inline]
    pub fn oversized(&self) -> bool {
        self.slab.len() > 4 * self.len() + self.shrink_above as usize
    }

    /// Give back the slab beyond twice the messages held (at least a
    /// quarter of [`SHRINK_ABOVE`] slots stay): each message in
    /// a slot above that moves to a free slot below, its index or `far`
    /// entry follows it, and stale index entries that named a slot given
    /// back now name slot 0 (still stale: no message there has their id).
    /// Handles that name a moved message's old slot find it by id from now
    /// on ([`Store::find`]). Costs a pass over the slab and the index, after
    /// at least three quarters of the slab's messages were freed. Call it
    /// only between broker operations: a slot found before is not valid
    /// after. Returns how many messages moved.
    #[cold]
    pub fn shrink(&mut self) -> usize {
        let keep = (2 * self.len()).max(self.shrink_above as usize / 4).min(self.slab.len());
        let mut free: Vec<u32> = self.free.iter().copied().filter(|&s| (s as usize) < keep).collect();
        let mut moved = 0;
        for from in keep..self.slab.len() {
            let id = self.slab[from].id();
            if id == 0 {
                continue;
            }
            // Fewer messages are held above `keep` than slots are free below.
            let to = free.pop().expect("a free slot below for each message above");
            self.slab.swap(from, to as usize);
            match id.checked_sub(self.base) {
                Some(i) => self.index[i as usize] = to,
                None => *self.far.get_mut(&id).expect("a message before the index is in far") = to,
            }
            moved += 1;
        }
        self.moved |= moved > 0;
        for s in self.index.iter_mut() {
            if *s as usize >= keep {
                *s = 0;
            }
        }
        self.slab.truncate(keep);
        self.slab.shrink_to(keep);
        free.shrink_to_fit();
        self.free = free;
        moved
    }

    /// The index's front: its id and message (None if freed).
    pub fn front(&self) -> Option<(u64, Option<&M>)> {
        let &s = self.index.front()?;
        let m = &self.slab[s as usize];
        Some((self.base, m.is(self.base).then_some(m)))
    }

    /// Remove the index's front (freeing its message, if any).
    pub fn pop_front(&mut self) {
        if let Some(s) = self.index.pop_front() {
            if self.slab[s as usize].is(self.base) {
                self.slab[s as usize].set_id(0);
                self.free.push(s);
            }
            self.base += 1;
        }
    }

    /// The messages in `far` with their ids, in no meaningful order.
    pub fn far_iter(&self) -> impl Iterator<Item = (u64, &M)> + '_ {
        self.far.iter().map(|(&id, &s)| (id, &self.slab[s as usize]))
    }

    /// Every message held with its id: `far`'s (in no meaningful order),
    /// then the index's in id order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &M)> + '_ {
        let ring = (self.index.iter().enumerate())
            .map(|(i, &s)| (self.base + i as u64, &self.slab[s as usize]))
            .filter(|(id, m)| m.is(*id));
        self.far_iter().chain(ring)
    }

    /// The ids the store spans: `far`'s, then every id from `base` on
    /// (freed ones included), for `--paranoid` checks.
    pub fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.far.keys().copied().chain(self.base..self.next_id())
    }

    /// Bytes held: slab, free list, index and `far` (by capacity; a hash
    /// table of `capacity` entries has at least capacity * 8 / 7 buckets of
    /// an entry and a control byte each).
    pub fn footprint(&self) -> u64 {
        use crate::limits::bytes_of;
        let buckets = self.far.capacity() * 8 / 7;
        bytes_of::<M>(self.slab.capacity())
            + bytes_of::<u32>(self.free.capacity() + self.index.capacity())
            + bytes_of::<(u64, u32)>(buckets)
            + buckets as u64
    }

    /// Internal consistency (debug builds and tests): every slab slot is
    /// either free (id 0, on the free list once) or held by the one message
    /// whose index or `far` entry names it.
    pub fn check_invariants(&self) {
        assert!(self.far.keys().all(|&id| id < self.base), "far overlaps the index");
        let mut owner = vec![0u8; self.slab.len()];
        for &s in &self.free {
            assert_eq!(self.slab[s as usize].id(), 0, "free slot {s} holds a message");
            owner[s as usize] += 1;
        }
        for (id, m) in self.iter() {
            assert_ne!(id, 0);
            let s = self.slot_of(id).expect("an iterated message is found");
            assert!(std::ptr::eq(m, &self.slab[s as usize]));
            owner[s as usize] += 1;
        }
        assert!(owner.iter().all(|&o| o == 1), "a slab slot neither held once nor free once");
    }
}

impl<M: Stored> Default for Store<M> {
    fn default() -> Self {
        Store::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test message: its id and a payload `v` (set to the id when sent).
    #[derive(Debug, Clone, Copy, PartialEq)]
    struct T {
        id: Id48,
        v: [u64; 8],
    }

    impl Stored for T {
        fn id48(&self) -> Id48 {
            self.id
        }
        fn id48_mut(&mut self) -> &mut Id48 {
            &mut self.id
        }
    }

    fn t(v: u64) -> T {
        T { id: Id48::default(), v: [v; 8] }
    }

    fn free(s: &mut Store<T>, id: u64) {
        let at = s.slot_of(id).expect("held");
        s.free(at);
    }

    /// A store of `n` messages (message i has payload i), with `live(i)` kept.
    fn store(n: u64, live: impl Fn(u64) -> bool) -> Store<T> {
        let mut s = Store::new();
        for id in 1..=n {
            s.push(t(id));
        }
        for id in 1..=n {
            if !live(id) {
                free(&mut s, id);
            }
        }
        s
    }

    #[test]
    fn messages_are_found_by_id_and_freed_slots_are_reused() {
        let mut s = store(10, |id| id % 2 == 0);
        assert_eq!(s.get(4).map(|m| m.v[0]), Some(4));
        assert_eq!(s.get(3), None, "freed");
        assert_eq!(s.get(11), None, "never sent");
        assert_eq!(s.len(), 5);
        let slab = s.slab.len();
        let freed_last = 8; // message 9's slot (message i took slot i - 1), freed last
        let at = s.push(t(11));
        assert_eq!((s.slab.len(), at), (slab, freed_last), "the slot freed last is reused");
        assert_eq!(s.get(11).map(|m| m.v[0]), Some(11));
        assert_eq!(s.get(9), None, "the old index entry of 9 names 11's slot: stale, not 9");
        s.check_invariants();
    }

    #[test]
    fn a_handle_finds_its_message_by_slot_until_it_is_freed() {
        let mut s = store(3, |_| true);
        let at = s.slot_of(2).unwrap();
        assert_eq!(s.get_at(at, 2).map(|m| m.v[0]), Some(2));
        assert_eq!(s.get_at(at, 3), None, "another id at that slot");
        s.free(at);
        assert_eq!(s.get_at(at, 2), None, "freed");
        s.push(t(4));
        assert_eq!(s.get_at(at, 2), None, "the slot now holds message 4");
        assert_eq!(s.get_at(at, 4).map(|m| m.v[0]), Some(4));
        s.free(at);
        s.free(at);
        assert_eq!(s.free.len(), 1, "freeing twice frees once");
        assert_eq!(s.get_at(at, 0), None, "a default handle (id 0) names no message, even a free slot");
        s.check_invariants();
    }

    #[test]
    fn the_slab_holds_about_the_live_messages_whatever_order_they_finish_in() {
        // 100k messages, each finishing while 500 later ones are live, in a
        // scrambled order: at most 501 live at once.
        let mut s: Store<T> = Store::new();
        let mut live: Vec<u64> = Vec::new();
        for id in 1..=100_000u64 {
            s.push(t(id));
            live.push(id);
            if live.len() > 500 {
                let k = (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize % live.len();
                free(&mut s, live.swap_remove(k));
                s.drop_front(u64::MAX, |_| false);
                if s.sparse(live.len()) {
                    s.compact(live.len(), u64::MAX, |_| false);
                }
            }
        }
        assert!(s.slab.capacity() <= 1024, "slab of {} slots for 501 live", s.slab.capacity());
        assert!(s.index.capacity() <= 4 * RING_SLACK, "index of {} entries", s.index.capacity());
        assert!(live.iter().all(|&id| s.get(id).is_some_and(|m| m.v == [id; 8])), "the live ones are intact");
        s.check_invariants();
    }

    #[test]
    fn a_pinned_front_moves_out_and_the_stale_entries_behind_it_go() {
        // id 1 is live; ids 2..=10_000 are freed; 10_001..=10_010 live.
        let mut s = store(10_010, |id| id == 1 || id > 10_000);
        assert!(s.sparse(11));
        s.compact(11, u64::MAX, |_| false);
        assert_eq!(s.far.keys().copied().collect::<Vec<_>>(), vec![1]);
        assert_eq!(s.base, 10_001, "the index starts at the first live message after the stale entries");
        assert_eq!(s.index.len(), 10);
        assert_eq!(s.get(1).map(|m| m.v[0]), Some(1), "still found, in far");
        free(&mut s, 1);
        assert_eq!((s.get(1), s.far.len()), (None, 0));
        s.check_invariants();
    }

    #[test]
    fn compaction_stops_at_the_stop_id() {
        let mut s = store(10_010, |id| id == 1);
        s.compact(1, 500, |_| false);
        assert_eq!(s.base, 500, "never past the stop id");
        assert_eq!(s.far.len(), 1);
    }

    #[test]
    fn finished_messages_kept_for_a_replay_are_freed_as_the_front_passes() {
        // Messages 1..=4 held; odd ones finished but kept.
        let mut s = store(4, |_| true);
        s.drop_front(u64::MAX, |m| m.v[0] % 2 == 1);
        assert_eq!((s.base, s.len()), (2, 3), "1 freed at the front; 2 stops it");
        assert_eq!(s.get(3).map(|m| m.v[0]), Some(3), "3 still readable behind a live front");
        s.check_invariants();
    }

    #[test]
    fn far_gives_back_memory_as_its_messages_finish() {
        // 100k live messages, then 200k finished: compaction moves the
        // 100k to far.
        let mut s = store(300_000, |id| id <= 100_000);
        assert!(s.sparse(100_000));
        s.compact(100_000, u64::MAX, |_| false);
        assert_eq!((s.far.len(), s.base), (100_000, 300_001));
        let full = s.far.capacity();
        for id in 11..=100_000u64 {
            free(&mut s, id);
        }
        assert_eq!(s.far.len(), 10);
        assert!(s.far.capacity() < full / 1000, "{} entries held for 10 messages", s.far.capacity());
        assert!((1..=10).all(|id| s.get(id).is_some_and(|m| m.v == [id; 8])), "the survivors are intact");
        s.check_invariants();
    }

    #[test]
    fn after_a_burst_the_slab_is_given_back_and_handles_still_find_their_messages() {
        // 100k messages held at once; then all but ten finish, some of the
        // ten in the slab's top slots.
        let survivors = [1, 2, 50_000, 99_990, 99_991, 99_995, 99_996, 99_997, 99_999, 100_000];
        let mut s = store(100_000, |id| survivors.contains(&id));
        let handles: Vec<(u64, u32)> = survivors.iter().map(|&id| (id, s.slot_of(id).unwrap())).collect();
        assert!(s.oversized());
        let full = s.footprint();
        assert_eq!(s.shrink(), 8, "the messages above the slots kept (message i is at slot i - 1) move");
        assert!(!s.oversized());
        assert_eq!(s.slab.capacity(), SHRINK_ABOVE / 4, "twice the messages held, at least a quarter of the threshold");
        assert!(s.footprint() < full / 10, "{} bytes held after the burst, {full} before", s.footprint());
        for (id, at) in handles {
            assert_eq!(s.get_at(at, id).map(|m| m.v), Some([id; 8]), "message {id} from its handle");
            assert_eq!(s.get(id).map(|m| m.v), Some([id; 8]), "message {id} by id");
        }
        assert_eq!(s.get(3), None);
        assert!((0..100_000).all(|at| s.find(at, 3).is_none()), "a freed message is found from no slot");
        s.check_invariants();
        // The store goes on as before.
        let at = s.push(t(100_001));
        assert_eq!(s.get_at(at, 100_001).map(|m| m.v[0]), Some(100_001));
        s.check_invariants();
    }

    static COMPACTIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    static FAR: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    static SHRINKS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    static FAR_SHRINKS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    #[test]
    fn the_property_compacts_shrinks_and_uses_far() {
        // The property's cases must reach compaction, far and shrinks that
        // move messages, or it checks little: run it here and count.
        a_store_agrees_with_a_map_by_id();
        assert!(COMPACTIONS.load(std::sync::atomic::Ordering::Relaxed) > 100, "compactions");
        assert!(FAR.load(std::sync::atomic::Ordering::Relaxed) > 0, "messages in far at the end");
        // (About 170 and 13 in a run.)
        assert!(SHRINKS.load(std::sync::atomic::Ordering::Relaxed) > 50, "shrinks that moved messages");
        assert!(FAR_SHRINKS.load(std::sync::atomic::Ordering::Relaxed) > 0, "... with messages in far");
    }

    proptest::proptest! {
        /// Against a map by id: random sends and finishes (some kept
        /// finished for a replay), with the front dropped and the index
        /// compacted as the brokers do (JetStream's stop id included). Every
        /// held message is found by id and by its slot, every freed one by
        /// neither, and the slab never holds more than 1.25 times the most
        /// messages held at once (plus its first allocation). Shrinks move
        /// messages; their handles still find them.
        #[test]
        fn a_store_agrees_with_a_map_by_id(ops in proptest::collection::vec((0u8..9, 0u16..1000), 1..3000)) {
            use std::collections::BTreeMap;
            let mut s: Store<T> = Store { slack: 16, shrink_above: 64, ..Store::new() };
            // id -> (the slot its handle names, kept finished)
            let mut model: BTreeMap<u64, (u32, bool)> = BTreeMap::new();
            let (mut peak, mut stop, mut compactions, mut shrinks, mut far_shrinks) = (0usize, u64::MAX, 0, 0, 0);
            for (op, pick) in ops {
                match op {
                    0..=3 => {
                        let id = s.next_id();
                        let at = s.push(t(id));
                        model.insert(id, (at, false));
                    }
                    4..=6 if !model.is_empty() => {
                        let &id = model.keys().nth(pick as usize % model.len()).unwrap();
                        let (handle, kept) = model[&id];
                        let at = s.find(handle, id).expect("a held message is found from its handle");
                        if op == 6 && !kept {
                            s.at_mut(at).v[7] = u64::MAX; // finished, kept for a replay
                            model.insert(id, (handle, true));
                        } else {
                            s.free(at);
                            model.remove(&id);
                        }
                    }
                    8 if pick % 16 == 0 => {
                        // A burst ends: all but the newest 20 or fewer of
                        // the messages in the index finish at once (not
                        // those in far, so that some stay there).
                        let base = s.base;
                        let ids: Vec<u64> =
                            model.range(base..).rev().map(|(&id, _)| id).skip(usize::from(pick % 320 / 16)).collect();
                        for id in ids {
                            let at = s.find(model[&id].0, id).expect("held");
                            s.free(at);
                            model.remove(&id);
                        }
                    }
                    _ => stop = if pick % 2 == 0 { u64::MAX } else { s.next_id() - u64::from(pick % 50).min(s.next_id() - 1) },
                }
                if s.oversized() {
                    let far = !s.far.is_empty();
                    let moved = s.shrink();
                    shrinks += usize::from(moved > 0);
                    far_shrinks += usize::from(far && moved > 0);
                    peak = s.len(); // the bound below holds from the shrink on
                }
                let gone = |m: &T| m.v[7] == u64::MAX;
                // Finished messages the front passes are freed (not those
                // in far, which the front never passes again).
                let base = s.base;
                s.drop_front(stop, gone);
                model.retain(|&id, &mut (_, kept)| !(kept && (base..s.base).contains(&id)));
                if s.sparse(s.len()) {
                    compactions += 1;
                    let base = s.base;
                    s.compact(s.len(), stop, gone);
                    model.retain(|&id, &mut (_, kept)| !(kept && (base..s.base).contains(&id)));
                }
                peak = peak.max(s.len());
                proptest::prop_assert_eq!(s.len(), model.len());
            }
            for id in 1..s.next_id() {
                match model.get(&id) {
                    Some(&(handle, _)) => {
                        let at = s.slot_of(id);
                        proptest::prop_assert!(at.is_some());
                        proptest::prop_assert_eq!(s.find(handle, id), at);
                        proptest::prop_assert_eq!(s.get_at(handle, id).map(|m| m.v[0]), Some(id));
                    }
                    None => {
                        proptest::prop_assert!(s.get(id).is_none(), "freed message {} found", id);
                        proptest::prop_assert!((0..s.slab.len() as u32 + 2).all(|at| s.find(at, id).is_none()));
                    }
                }
            }
            proptest::prop_assert!(s.slab.capacity() <= (peak * 5 / 4).max(1024) + SLAB_GROWTH_MIN);
            s.check_invariants();
            COMPACTIONS.fetch_add(compactions, std::sync::atomic::Ordering::Relaxed);
            SHRINKS.fetch_add(shrinks, std::sync::atomic::Ordering::Relaxed);
            FAR_SHRINKS.fetch_add(far_shrinks, std::sync::atomic::Ordering::Relaxed);
            FAR.fetch_max(s.far.len(), std::sync::atomic::Ordering::Relaxed);
        }
    }

    #[test]
    fn ids_of_48_bits_round_trip() {
        for id in [0, 1, 65_535, 65_536, 1 << 32, (1 << 48) - 1, 0x1234_5678_9abc] {
            assert_eq!(Id48::new(id).get(), id);
        }
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
}
