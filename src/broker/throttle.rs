//! Per-action API quotas: SQS FIFO allows 300 calls per second for each of
//! SendMessage, ReceiveMessage and DeleteMessage (batching carries up to 10
//! messages per call: 3,000 messages/s), and far more in high-throughput
//! mode; a call over the quota fails with ThrottlingException even when
//! messages are available (docs/model.md, "SQS FIFO").
//!
//! The quota is counted in whole seconds of simulated time: at most `limit`
//! calls of one action in [k s, (k+1) s). This is integer arithmetic and
//! caps the measured rate exactly; AWS does not document its bucket shape.

use crate::duration::{Nanos, NS_PER_S};

/// The throttled actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Send = 0,
    Receive = 1,
    Delete = 2,
}

pub struct Throttle {
    /// Calls per second per action; 0 = unlimited.
    limit: u32,
    second: [u64; 3],
    used: [u32; 3],
    /// Calls refused, per action.
    pub throttled: [u64; 3],
}

impl Throttle {
    pub fn new(limit: u32) -> Throttle {
        Throttle { limit, second: [u64::MAX; 3], used: [0; 3], throttled: [0; 3] }
    }

    /// Whether a call of `action` at `now` is within the quota (and count it).
    pub fn admit(&mut self, action: Action, now: Nanos) -> bool {
        if self.limit == 0 {
            return true;
        }
        let a = action as usize;
        let second = now / NS_PER_S;
        if self.second[a] != second {
            self.second[a] = second;
            self.used[a] = 0;
        }
        if self.used[a] < self.limit {
            self.used[a] += 1;
            true
        } else {
            self.throttled[a] += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_limit_calls_per_second_per_action() {
        let mut t = Throttle::new(300);
        let admitted = (0..1000).filter(|i| t.admit(Action::Send, i * 1_000_000)).count();
        assert_eq!(admitted, 300, "1000 sends in one second: 300 pass");
        assert!(t.admit(Action::Receive, 999_000_000), "actions have separate quotas");
        assert!(t.admit(Action::Send, NS_PER_S), "a new second starts a new quota");
        assert_eq!(t.throttled, [700, 0, 0]);
    }

    #[test]
    fn zero_is_unlimited() {
        let mut t = Throttle::new(0);
        assert!((0..10_000).all(|_| t.admit(Action::Delete, 5)));
    }
}
