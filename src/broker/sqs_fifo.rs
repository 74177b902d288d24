//! SQS FIFO message groups (docs/model.md, "SQS FIFO"). The lease, handle and
//! DLQ mechanics are those of `sqs.rs`; this module decides which visible
//! message a receive may take next, and draws each message's group.
//!
//! Rules followed:
//! - Messages of one MessageGroupId are delivered in send order; while any
//!   message of a group is in flight, no other message of that group is
//!   delivered to anyone; other groups flow [D FIFO-queues-understanding-logic].
//! - The group stays blocked until the in-flight message is deleted or its
//!   visibility timeout expires; the expired head is then redelivered first
//!   (its receive count grows) [D ReceiveRequestAttemptId text].
//! - A receive returns as many messages of one group as it can, in order, and
//!   fills the rest with other groups; the queue picks groups, oldest head
//!   first (our choice: AWS documents no group selection order).
//! - A message moved to the DLQ leaves its group, so the group continues
//!   without it: DLQ moves break group order.
//!
//! Not modelled: the 120,000-message scan window for available groups, and
//! ReceiveRequestAttemptId retries (a lost receive response leaves its
//! messages in flight until their VT ends, as on a Standard queue).

use crate::rng::hash_unit;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// Salt of the group-key hash.
const GROUP_SALT: u64 = 0x0067_726f_7570;

/// Which group each logical key belongs to: a Zipf draw over `groups` with
/// exponent `skew` (0: uniform), made from the key by a stateless hash, so a
/// retry or an SNS copy of a message lands in the same group.
pub struct GroupDraw {
    seed: u64,
    /// Cumulative probabilities (empty for uniform).
    cdf: Vec<f64>,
    groups: u32,
}

impl GroupDraw {
    pub fn new(seed: u64, groups: u32, skew: f64) -> GroupDraw {
        let groups = groups.max(1);
        let cdf = if skew == 0.0 {
            Vec::new()
        } else {
            let weights: Vec<f64> = (1..=groups).map(|k| 1.0 / (k as f64).powf(skew)).collect();
            let total: f64 = weights.iter().sum();
            let mut acc = 0.0;
            let mut cdf: Vec<f64> = weights
                .iter()
                .map(|w| {
                    acc += w / total;
                    acc
                })
                .collect();
            if let Some(last) = cdf.last_mut() {
                *last = 1.0;
            }
            cdf
        };
        GroupDraw { seed, cdf, groups }
    }

    #[inline]
    pub fn group_of(&self, key: u64) -> u32 {
        if self.groups == 1 {
            return 0;
        }
        let u = hash_unit(self.seed, GROUP_SALT, key);
        if self.cdf.is_empty() {
            return ((u * self.groups as f64) as u32).min(self.groups - 1);
        }
        (self.cdf.partition_point(|&c| c <= u) as u32).min(self.groups - 1)
    }
}

#[derive(Debug, Default)]
struct Group {
    /// Ids of the group's live messages, in send order.
    pending: VecDeque<u64>,
    in_flight: u32,
    /// Listed in `ready` with this head.
    listed: Option<u64>,
    /// Messages the group has accepted (sent or redriven).
    accepted: u32,
}

/// The groups of one FIFO queue and the ones a receive may take from.
#[derive(Default)]
pub struct Groups {
    groups: Vec<Group>,
    /// (head id, group) of groups with nothing in flight and a visible head;
    /// entries whose group changed since are skipped when popped.
    ready: BinaryHeap<Reverse<(u64, u32)>>,
    ready_count: u64,
}

impl Groups {
    pub fn new(groups: u32) -> Groups {
        Groups { groups: (0..groups.max(1)).map(|_| Group::default()).collect(), ..Groups::default() }
    }

    /// A message joins the back of group `g`; returns the number of
    /// messages the group had accepted before it (its sequence number).
    pub fn enqueue(&mut self, g: u32, id: u64) -> u32 {
        let group = &mut self.groups[g as usize];
        group.pending.push_back(id);
        group.accepted = group.accepted.wrapping_add(1);
        group.accepted - 1
    }

    /// Whether some group can be received from.
    pub fn any_ready(&self) -> bool {
        self.ready_count > 0
    }

    /// The `i`-th live message of group `g`.
    pub fn nth(&self, g: u32, i: usize) -> Option<u64> {
        self.groups[g as usize].pending.get(i).copied()
    }

    pub fn head(&self, g: u32) -> Option<u64> {
        self.nth(g, 0)
    }

    pub fn in_flight(&self, g: u32) -> u32 {
        self.groups[g as usize].in_flight
    }

    pub fn delivered(&mut self, g: u32) {
        self.groups[g as usize].in_flight += 1;
    }

    pub fn left_flight(&mut self, g: u32) {
        let group = &mut self.groups[g as usize];
        debug_assert!(group.in_flight > 0, "group {g} had nothing in flight");
        group.in_flight -= 1;
    }

    /// Message `id` comes back to group `g` at its place in id order (a
    /// Pub/Sub ordering replay of a message acked earlier).
    pub fn insert(&mut self, g: u32, id: u64) {
        let pending = &mut self.groups[g as usize].pending;
        let i = pending.partition_point(|&x| x < id);
        pending.insert(i, id);
    }

    /// Message `id` leaves group `g` (deleted, expired or dead-lettered).
    pub fn remove(&mut self, g: u32, id: u64) {
        let pending = &mut self.groups[g as usize].pending;
        if let Some(i) = pending.iter().position(|&x| x == id) {
            pending.remove(i);
        }
    }

    /// Bring group `g`'s listing up to date: ready iff nothing is in flight
    /// and its head is visible (`head_visible`).
    pub fn refresh(&mut self, g: u32, head_visible: bool) {
        let group = &mut self.groups[g as usize];
        let ready = group.in_flight == 0 && head_visible;
        let head = group.pending.front().copied();
        match (ready, group.listed) {
            (true, Some(h)) if Some(h) == head => {}
            (true, listed) => {
                if listed.is_none() {
                    self.ready_count += 1;
                }
                let h = head.expect("a ready group has a head");
                group.listed = Some(h);
                self.ready.push(Reverse((h, g)));
            }
            (false, Some(_)) => {
                group.listed = None;
                self.ready_count -= 1;
            }
            (false, None) => {}
        }
    }

    /// Take the ready group with the oldest head (it stops being listed).
    pub fn pop_ready(&mut self) -> Option<u32> {
        while let Some(Reverse((h, g))) = self.ready.pop() {
            let group = &mut self.groups[g as usize];
            if group.listed == Some(h) {
                group.listed = None;
                self.ready_count -= 1;
                return Some(g);
            }
        }
        debug_assert_eq!(self.ready_count, 0);
        None
    }

    /// Debug check: in-flight counts per group match `count(g)`.
    pub fn check(&self, mut in_flight_of: impl FnMut(u32) -> u32) {
        for (g, group) in self.groups.iter().enumerate() {
            assert_eq!(group.in_flight, in_flight_of(g as u32), "group {g} in-flight count");
        }
        let listed = self.groups.iter().filter(|g| g.listed.is_some()).count() as u64;
        assert_eq!(listed, self.ready_count, "ready groups");
    }

    /// Bytes held, for the memory limit.
    pub fn footprint(&self) -> u64 {
        use crate::limits::bytes_of;
        let pending: u64 = self.groups.iter().map(|g| bytes_of::<u64>(g.pending.capacity())).sum();
        bytes_of::<Group>(self.groups.capacity()) + pending + bytes_of::<Reverse<(u64, u32)>>(self.ready.capacity())
    }

    /// Live message ids of group `g` (for invariant checks).
    pub fn members(&self, g: u32) -> impl Iterator<Item = u64> + '_ {
        self.groups[g as usize].pending.iter().copied()
    }

    pub fn len(&self) -> u32 {
        self.groups.len() as u32
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_ready_head_first_and_blocked_groups_skipped() {
        let mut gs = Groups::new(3);
        for (g, id) in [(0, 1), (1, 2), (0, 3), (2, 4)] {
            gs.enqueue(g, id);
        }
        for g in 0..3 {
            gs.refresh(g, true);
        }
        assert_eq!(gs.pop_ready(), Some(0));
        gs.delivered(0);
        gs.refresh(0, true);
        assert_eq!(gs.pop_ready(), Some(1));
        assert_eq!(gs.pop_ready(), Some(2));
        assert_eq!(gs.pop_ready(), None, "group 0 is blocked while its head is in flight");
        gs.left_flight(0);
        gs.refresh(0, true);
        assert_eq!(gs.pop_ready(), Some(0), "the head comes back first");
        assert_eq!(gs.head(0), Some(1));
    }

    #[test]
    fn group_draw_is_stable_and_skewed() {
        let uniform = GroupDraw::new(1, 10, 0.0);
        let skewed = GroupDraw::new(1, 10, 1.5);
        assert_eq!(uniform.group_of(42), uniform.group_of(42));
        let n = 20_000;
        let zeros = (0..n).filter(|&k| skewed.group_of(k) == 0).count() as f64 / n as f64;
        // Zipf(1.5) over 10: P(group 0) = 1 / sum_k k^-1.5.
        let p0 = 1.0 / (1..=10).map(|k| (k as f64).powf(-1.5)).sum::<f64>();
        assert!((zeros - p0).abs() < 4.0 * (p0 * (1.0 - p0) / n as f64).sqrt(), "{zeros} vs {p0}");
        let ones = (0..n).filter(|&k| uniform.group_of(k) == 3).count() as f64 / n as f64;
        assert!((ones - 0.1).abs() < 4.0 * (0.09 / n as f64).sqrt(), "{ones}");
    }
}
