//! A FIFO queue kept in fixed blocks of [`BLOCK`] entries, for the event
//! lanes (`engine.rs`).
//!
//! A `VecDeque` grows by doubling and keeps its largest size until it is
//! shrunk: a lane that held 38,000 timers took 65,536 places, and the copy at
//! each doubling stalled the run. Here a push takes a new block when the last
//! one is full and a pop gives a block back when it has passed it, so the
//! memory held follows the entries (at most one partly used block at each
//! end, and one spare kept to avoid allocating at every block boundary), and
//! no entry is ever moved except by [`Blocks::retain`] (issue 17: bytes per
//! live message).

use std::collections::VecDeque;

/// Entries a block holds (3 KiB of 24-byte lane entries).
pub const BLOCK: usize = 128;

/// A FIFO queue of `T` in blocks.
pub struct Blocks<T> {
    /// Each of length [`BLOCK`]; entry `i` of the queue is at
    /// `head + i` counted from the start of the first block.
    blocks: VecDeque<Box<[T; BLOCK]>>,
    head: usize,
    len: usize,
    /// The last block given back, reused by the next push that needs one.
    spare: Option<Box<[T; BLOCK]>>,
}

impl<T> Default for Blocks<T> {
    fn default() -> Self {
        Blocks { blocks: VecDeque::new(), head: 0, len: 0, spare: None }
    }
}

impl<T: Copy + Default> Blocks<T> {
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Places held (entries and free places in the blocks held, the spare
    /// included).
    pub fn capacity(&self) -> usize {
        (self.blocks.len() + usize::from(self.spare.is_some())) * BLOCK
    }

    /// Bytes held beyond the places: the block pointers.
    pub fn overhead_bytes(&self) -> u64 {
        crate::limits::bytes_of::<Box<[T; BLOCK]>>(self.blocks.capacity())
    }

    #[inline]
    fn at(&self, i: usize) -> &T {
        let p = self.head + i;
        &self.blocks[p / BLOCK][p % BLOCK]
    }

    #[inline]
    fn at_mut(&mut self, i: usize) -> &mut T {
        let p = self.head + i;
        &mut self.blocks[p / BLOCK][p % BLOCK]
    }

    #[inline]
    pub fn front(&self) -> Option<&T> {
        if self.len == 0 {
            return None;
        }
        self.blocks.front().map(|b| &b[self.head])
    }

    #[inline]
    pub fn back(&self) -> Option<&T> {
        self.len.checked_sub(1).map(|i| self.at(i))
    }

    #[inline]
    pub fn push_back(&mut self, e: T) {
        let p = self.head + self.len;
        if p == self.blocks.len() * BLOCK {
            self.grow();
        }
        if let Some(b) = self.blocks.back_mut() {
            b[p % BLOCK] = e;
        }
        self.len += 1;
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let block = self.spare.take().unwrap_or_else(|| Box::new([T::default(); BLOCK]));
        self.blocks.push_back(block);
    }

    #[inline]
    pub fn pop_front(&mut self) -> Option<T> {
        let e = *self.front()?;
        self.head += 1;
        self.len -= 1;
        if self.head == BLOCK {
            self.head = 0;
            self.release_front();
        }
        Some(e)
    }

    #[cold]
    #[inline(never)]
    fn release_front(&mut self) {
        let block = self.blocks.pop_front();
        self.release(block);
    }

    /// Keep a block given back as the spare if there is none; drop it
    /// otherwise.
    fn release(&mut self, block: Option<Box<[T; BLOCK]>>) {
        if self.spare.is_none() {
            self.spare = block;
        }
    }

    /// Keep the first `len` entries; give back the blocks past them.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
        if self.len == 0 {
            self.head = 0;
        }
        let needed = (self.head + self.len).div_ceil(BLOCK);
        while self.blocks.len() > needed {
            let block = self.blocks.pop_back();
            self.release(block);
        }
    }

    /// Replace each entry, in order, by what `f` makes of it, or drop it
    /// (None); the kept entries close up, in place. O(len).
    pub fn retain(&mut self, mut f: impl FnMut(T) -> Option<T>) {
        let mut kept = 0;
        for read in 0..self.len {
            if let Some(e) = f(*self.at(read)) {
                *self.at_mut(kept) = e;
                kept += 1;
            }
        }
        self.truncate(kept);
    }

    /// Give back the spare block and the block list's unused places.
    pub fn shrink(&mut self) {
        self.spare = None;
        self.blocks.shrink_to_fit();
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        (0..self.len).map(|i| self.at(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Push(u32),
        Pop,
        /// Drop the entries divisible by the value, add one to the others.
        Retain(u32),
        Truncate(usize),
        Shrink,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => any::<u32>().prop_map(Op::Push),
            6 => Just(Op::Pop),
            1 => (1..5u32).prop_map(Op::Retain),
            1 => (0..400usize).prop_map(Op::Truncate),
            1 => Just(Op::Shrink),
        ]
    }

    proptest! {
        /// The same as a `VecDeque`, whatever the sequence of operations
        /// (runs of pushes cross block boundaries: up to 2,000 operations).
        #[test]
        fn behaves_as_a_vecdeque(ops in prop::collection::vec(op(), 0..2000)) {
            let mut b: Blocks<u32> = Blocks::default();
            let mut v: VecDeque<u32> = VecDeque::new();
            for op in ops {
                match op {
                    Op::Push(x) => { b.push_back(x); v.push_back(x); }
                    Op::Pop => prop_assert_eq!(b.pop_front(), v.pop_front()),
                    Op::Retain(m) => {
                        b.retain(|x| (x % m != 0).then(|| x.wrapping_add(1)));
                        v = v.iter().filter(|&&x| x % m != 0).map(|x| x.wrapping_add(1)).collect();
                    }
                    Op::Truncate(n) => { b.truncate(n); v.truncate(n); }
                    Op::Shrink => b.shrink(),
                }
                prop_assert_eq!(b.len(), v.len());
                prop_assert_eq!(b.front(), v.front());
                prop_assert_eq!(b.back(), v.back());
                // Memory follows the entries: the blocks they span, one spare.
                prop_assert!(b.capacity() <= (v.len().div_ceil(BLOCK) + 2) * BLOCK, "{} places for {}", b.capacity(), v.len());
            }
            prop_assert!(b.iter().eq(v.iter()));
        }
    }

    #[test]
    fn a_drained_queue_keeps_one_spare_block_at_most() {
        let mut b: Blocks<u64> = Blocks::default();
        for i in 0..10 * BLOCK as u64 {
            b.push_back(i);
        }
        assert_eq!(b.capacity(), 10 * BLOCK);
        for i in 0..10 * BLOCK as u64 {
            assert_eq!(b.pop_front(), Some(i));
        }
        assert!(b.capacity() <= 2 * BLOCK, "{} places held empty", b.capacity());
        b.shrink();
        assert!(b.capacity() <= BLOCK);
    }
}
