//! The consumer's idempotency store, keyed by logical message key:
//! `check_then_mark` (check at start, mark with the effect: overlapping
//! attempts both pass), `claim_first` (a conditional put claims the key for a
//! TTL; a crash leaves the claim), `atomic` (the mark commits with the effect).

use crate::duration::Nanos;
use crate::scenario::{Idempotency, Strategy};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, Default)]
struct KeyState {
    marked_at: Option<Nanos>,
    claim_until: Nanos,
}

/// Answer to the check an attempt makes when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Go ahead; `forgotten` if a mark existed but had passed its key TTL.
    Proceed { forgotten: bool },
    /// Already done: skip the effect and delete.
    Done,
    /// claim_first: another attempt holds the claim.
    InProgress,
}

/// Answer at effect time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    Apply { forgotten: bool },
    Suppress,
}

pub struct Store {
    pub cfg: Idempotency,
    keys: HashMap<u64, KeyState>,
}

impl Store {
    /// Bytes held by the keys (a hash table: key, state and a control byte
    /// per bucket), for the memory limit (`limits.rs`).
    pub fn footprint(&self) -> u64 {
        crate::limits::bytes_of::<(u64, KeyState, u8)>(self.keys.capacity())
    }

    pub fn new(cfg: Idempotency) -> Store {
        Store { cfg, keys: HashMap::new() }
    }

    pub fn strategy(&self) -> Strategy {
        self.cfg.strategy
    }

    fn mark_live(&self, s: &KeyState, now: Nanos) -> (bool, bool) {
        match s.marked_at {
            None => (false, false),
            Some(t) => match self.cfg.key_ttl_ns {
                Some(ttl) if t + ttl <= now => (false, true),
                _ => (true, false),
            },
        }
    }

    /// The check at the start of an attempt.
    pub fn check(&mut self, now: Nanos, key: u64) -> Check {
        let state = self.keys.get(&key).copied().unwrap_or_default();
        let (done, forgotten) = self.mark_live(&state, now);
        if done {
            return Check::Done;
        }
        match self.cfg.strategy {
            Strategy::ClaimFirst if state.claim_until > now => Check::InProgress,
            Strategy::ClaimFirst => {
                self.keys.insert(key, KeyState { marked_at: None, claim_until: now + self.cfg.claim_ttl_ns });
                Check::Proceed { forgotten }
            }
            _ => Check::Proceed { forgotten },
        }
    }

    /// At effect time: `atomic` decides here; other strategies mark the key.
    pub fn commit(&mut self, now: Nanos, key: u64) -> Commit {
        let state = self.keys.get(&key).copied().unwrap_or_default();
        let (done, forgotten) = self.mark_live(&state, now);
        if self.cfg.strategy == Strategy::Atomic && done {
            return Commit::Suppress;
        }
        self.keys.insert(key, KeyState { marked_at: Some(now), claim_until: 0 });
        Commit::Apply { forgotten }
    }

    /// claim_first: a failed attempt deletes its claim so a retry can proceed.
    pub fn release_claim(&mut self, key: u64) {
        if let Some(s) = self.keys.get_mut(&key) {
            if s.marked_at.is_none() {
                s.claim_until = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::Dist;

    fn store(strategy: Strategy, key_ttl_ns: Option<Nanos>) -> Store {
        Store::new(Idempotency { strategy, claim_ttl_ns: 100, key_ttl_ns, latency: Dist::Constant(0) })
    }

    #[test]
    fn check_then_mark_lets_overlapping_attempts_through() {
        let mut s = store(Strategy::CheckThenMark, None);
        assert_eq!(s.check(0, 1), Check::Proceed { forgotten: false });
        assert_eq!(s.check(5, 1), Check::Proceed { forgotten: false });
        assert_eq!(s.commit(10, 1), Commit::Apply { forgotten: false });
        assert_eq!(s.check(11, 1), Check::Done);
    }

    #[test]
    fn claim_first_blocks_until_the_claim_expires() {
        let mut s = store(Strategy::ClaimFirst, None);
        assert_eq!(s.check(0, 1), Check::Proceed { forgotten: false });
        assert_eq!(s.check(50, 1), Check::InProgress);
        assert_eq!(s.check(100, 1), Check::Proceed { forgotten: false });
        s.release_claim(1);
        assert_eq!(s.check(101, 1), Check::Proceed { forgotten: false });
    }

    #[test]
    fn atomic_suppresses_until_the_key_ttl_forgets_it() {
        let mut s = store(Strategy::Atomic, Some(1000));
        assert_eq!(s.commit(0, 1), Commit::Apply { forgotten: false });
        assert_eq!(s.commit(999, 1), Commit::Suppress);
        assert_eq!(s.commit(1000, 1), Commit::Apply { forgotten: true });
    }
}
