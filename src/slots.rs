//! A worker's concurrency slots and its free list, with the first slot
//! stored inline.
//!
//! Most worker groups run one message at a time (`concurrency = 1`). Keeping
//! that slot, and a free list of one, inside the worker instead of in two
//! heap allocations of their own saves two cache misses each time an event
//! touches a worker, which is what dominates a run with 20,000 workers. More
//! slots go to a vector beside it. The free list is a stack (the slot freed
//! last is taken first), as a `Vec` would be.

use crate::worker::Slot;

/// The bytes at the start of [`Slots`] that the first slot's events touch:
/// the free list's head and the first slot.
pub const HOT_BYTES: usize = std::mem::offset_of!(Slots, rest);

#[repr(C)]
pub struct Slots {
    /// Free slots: `free_len` of them, the bottom one in `free_first`.
    free_len: u32,
    free_first: u32,
    first: Slot,
    rest: Vec<Slot>,
    free_rest: Vec<u32>,
}

impl Slots {
    /// `n` idle slots (at least one), all free; `pop_free` gives 0 first.
    pub fn new(n: u32) -> Slots {
        let n = n.max(1);
        let mut s = Slots {
            first: Slot::default(),
            rest: vec![Slot::default(); n as usize - 1],
            free_first: 0,
            free_rest: Vec::with_capacity(n as usize - 1),
            free_len: 0,
        };
        for i in (0..n).rev() {
            s.push_free(i);
        }
        s
    }

    #[inline]
    pub fn len(&self) -> usize {
        1 + self.rest.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// How many slots are free.
    #[inline]
    pub fn free(&self) -> usize {
        self.free_len as usize
    }

    /// Take the slot freed last.
    #[inline]
    pub fn pop_free(&mut self) -> Option<u32> {
        match self.free_len {
            0 => None,
            1 => {
                self.free_len = 0;
                Some(self.free_first)
            }
            _ => {
                self.free_len -= 1;
                self.free_rest.pop()
            }
        }
    }

    #[inline]
    pub fn push_free(&mut self, s: u32) {
        debug_assert!((s as usize) < self.len() && self.free() < self.len(), "freeing slot {s} twice");
        if self.free_len == 0 {
            self.free_first = s;
        } else {
            self.free_rest.push(s);
        }
        self.free_len += 1;
    }

    /// Start loading the slot [`Slots::pop_free`] would give into the cache
    /// (a hint; see `prefetch.rs`).
    #[inline]
    pub fn prefetch_free(&self) {
        let top = match self.free_len {
            0 => return,
            1 => self.free_first,
            n => match self.free_rest.get(n as usize - 2) {
                Some(&s) => s,
                None => return,
            },
        };
        let slot: *const Slot = &self[top as usize];
        crate::prefetch::prefetch(slot);
        crate::prefetch::prefetch(slot.cast::<u8>().wrapping_add(std::mem::size_of::<Slot>() - 1));
    }

    /// The free slots, bottom of the stack first.
    pub fn free_iter(&self) -> impl Iterator<Item = u32> + '_ {
        let first = (self.free_len > 0).then_some(self.free_first);
        first.into_iter().chain(self.free_rest.iter().copied())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Slot> {
        std::iter::once(&self.first).chain(self.rest.iter())
    }
}

impl std::ops::Index<usize> for Slots {
    type Output = Slot;
    #[inline]
    fn index(&self, i: usize) -> &Slot {
        if i == 0 {
            &self.first
        } else {
            &self.rest[i - 1]
        }
    }
}

impl std::ops::IndexMut<usize> for Slots {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut Slot {
        if i == 0 {
            &mut self.first
        } else {
            &mut self.rest[i - 1]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_free_list_is_a_stack_like_a_vec() {
        for n in [1u32, 2, 5] {
            let mut slots = Slots::new(n);
            let mut model: Vec<u32> = (0..n).rev().collect();
            assert_eq!(slots.len(), n as usize);
            // A fixed interleaving of takes and frees, checked against a Vec.
            let mut taken = Vec::new();
            for step in 0..40u32 {
                slots.prefetch_free(); // a hint in every state, never a panic
                if step % 3 != 2 {
                    let got = slots.pop_free();
                    assert_eq!(got, model.pop(), "n = {n}, step {step}");
                    taken.extend(got);
                } else if let Some(s) = taken.pop() {
                    slots.push_free(s);
                    model.push(s);
                }
                assert_eq!(slots.free(), model.len());
            }
        }
    }

    #[test]
    fn slots_index_inline_and_beyond() {
        let mut slots = Slots::new(3);
        for i in 0..3 {
            slots[i].gen = 10 + i as u32;
        }
        assert_eq!(slots.iter().map(|s| s.gen).collect::<Vec<_>>(), vec![10, 11, 12]);
    }
}
