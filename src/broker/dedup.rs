//! Send-side deduplication over a time window: SQS FIFO's 5-minute
//! MessageDeduplicationId interval, SNS FIFO topics (docs/model.md, "SQS FIFO"
//! and "SNS"), and later JetStream's `duplicate_window`.
//!
//! Rules followed: a send whose id was accepted less than `window` ago is
//! accepted but not delivered; the interval starts at the accepted send and
//! a removed duplicate does not extend it; tracking continues after the
//! message is received or deleted. A send exactly `window` after the first
//! is accepted again (the interval is [t, t + window)).

use crate::duration::{Nanos, NS_PER_S};
use crate::limits::give_back;
use std::collections::{HashMap, VecDeque};

/// SQS FIFO's and SNS FIFO's deduplication interval: 5 minutes.
pub const FIFO_WINDOW_NS: Nanos = 5 * 60 * NS_PER_S;

pub struct Dedup {
    window_ns: Nanos,
    /// Id -> end of its interval.
    until: HashMap<u64, Nanos>,
    /// (end, id) in the order ids were accepted, to forget expired ids.
    expiry: VecDeque<(Nanos, u64)>,
}

impl Dedup {
    pub fn new(window_ns: Nanos) -> Dedup {
        Dedup { window_ns, until: HashMap::new(), expiry: VecDeque::new() }
    }

    /// A send of `id` at `now`: true if it is accepted as new, false if it is
    /// a duplicate inside the interval of an earlier accepted send.
    pub fn accept(&mut self, now: Nanos, id: u64) -> bool {
        self.forget_until(now);
        if self.until.get(&id).is_some_and(|&end| now < end) {
            return false;
        }
        let end = now.saturating_add(self.window_ns);
        self.until.insert(id, end);
        self.expiry.push_back((end, id));
        true
    }

    /// Forget the ids whose interval ended by `now` (as the next
    /// [`Dedup::accept`] would: time only advances), and give back what the
    /// map and the expiry queue held beyond twice their entries once they
    /// hold more than four times them plus `above` (after a burst of sends).
    pub fn shrink(&mut self, now: Nanos, above: usize) {
        self.forget_until(now);
        if let Some(keep) = give_back(self.until.len(), self.until.capacity(), above) {
            self.until.shrink_to(keep);
        }
        if let Some(keep) = give_back(self.expiry.len(), self.expiry.capacity(), above) {
            self.expiry.shrink_to(keep);
        }
    }

    /// Drop the ids whose interval ended at or before `now`.
    fn forget_until(&mut self, now: Nanos) {
        while let Some(&(end, old)) = self.expiry.front() {
            if end > now {
                break;
            }
            self.expiry.pop_front();
            if self.until.get(&old) == Some(&end) {
                self.until.remove(&old);
            }
        }
    }

    /// Bytes held, for the memory limit (hash map entries estimated at twice their size).
    pub fn footprint(&self) -> u64 {
        use crate::limits::bytes_of;
        2 * bytes_of::<(u64, Nanos)>(self.until.capacity()) + bytes_of::<(Nanos, u64)>(self.expiry.capacity())
    }

    /// Ids currently remembered (for memory accounting and tests).
    pub fn tracked(&self) -> usize {
        self.until.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const MIN5: Nanos = 300_000_000_000;

    #[test]
    fn window_edges_to_the_nanosecond() {
        let mut d = Dedup::new(MIN5);
        assert!(d.accept(0, 7));
        assert!(!d.accept(MIN5 - 1, 7), "inside the window: removed");
        assert!(d.accept(MIN5, 7), "the interval is [t, t + 5m)");
        assert!(!d.accept(2 * MIN5 - 1, 7), "a new interval started at 5m");
        assert!(d.accept(2 * MIN5 + 1, 7));
    }

    #[test]
    fn a_removed_duplicate_does_not_extend_the_interval() {
        let mut d = Dedup::new(MIN5);
        assert!(d.accept(10, 1));
        assert!(!d.accept(MIN5, 1));
        assert!(d.accept(MIN5 + 10, 1));
    }

    #[test]
    fn ids_are_independent_and_forgotten_after_the_window() {
        let mut d = Dedup::new(MIN5);
        assert!(d.accept(0, 1));
        assert!(d.accept(1, 2));
        assert!(!d.accept(2, 1));
        assert_eq!(d.tracked(), 2);
        assert!(d.accept(3 * MIN5, 3));
        assert_eq!(d.tracked(), 1, "expired ids are forgotten");
    }

    #[test]
    fn a_burst_of_ids_is_forgotten_and_its_memory_given_back_once_the_window_passes() {
        let mut d = Dedup::new(MIN5);
        for id in 0..100_000 {
            assert!(d.accept(id, id));
        }
        let peak = d.footprint();
        // Inside the window nothing is forgotten and nothing given back.
        d.shrink(MIN5 - 1, 1024);
        assert_eq!((d.tracked(), d.footprint()), (100_000, peak));
        assert!(!d.accept(MIN5 - 1, 7), "still a duplicate after a shrink inside its window");
        // Past it (the last id's interval ends at MIN5 + 99,999 ns).
        d.shrink(MIN5 + 100_000, 1024);
        assert_eq!(d.tracked(), 0);
        assert!(d.footprint() < peak / 50, "{} of {peak} bytes kept", d.footprint());
        assert!(d.accept(MIN5 + 100_000, 7), "accepted again once its interval ended");
    }
}
