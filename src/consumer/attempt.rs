//! One attempt at one message, as every consumer runs it (docs/model.md
//! sections 5 and 6): the optional idempotency check when it starts, the
//! handler's steps (a delay, or a dependency call that may fail), the failure
//! decided at the end of the last step (a poison key, a handler error) and the
//! side effect committed at the effect step, counted as a duplicate by logical
//! key unless the idempotency store suppresses it.
//!
//! The functions here touch only the components they are given, so a worker
//! slot (`worker.rs`) and a Lambda invocation (`lambda.rs`) call them with
//! their own random stream and their own name for the trace.

use crate::broker::Handle;
use crate::dependency::{CallOutcome, DependencyState};
use crate::duration::Nanos;
use crate::idempotency::{Check, Commit, Store};
use crate::metrics::{Breach, Metrics, Obs};
use crate::rng::{chance, hash_unit, Stream};
use crate::scenario::{Handler, Step, Strategy};
use crate::trace::Kind;

/// Salt of the poison-message hash.
const POISON_SALT: u64 = 0x706f_6973_6f6e;

/// Why a step failed: its dependency call's outcome (one byte, so that a
/// worker's slot stays small).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepFailure {
    DependencyError,
    DependencyTimeout,
}

impl StepFailure {
    /// The reason as the trace gives it.
    pub fn reason(self) -> &'static str {
        match self {
            StepFailure::DependencyError => "dependency error",
            StepFailure::DependencyTimeout => "dependency timeout",
        }
    }
}

/// Step `i` of `handler` starting at `now`: how long it takes, and why it
/// fails if it does (a dependency error or timeout).
#[inline]
pub fn run_step(
    handler: &mut Handler,
    i: usize,
    deps: &mut [DependencyState],
    rng: &mut Stream,
    now: Nanos,
) -> (Nanos, Option<StepFailure>) {
    match &mut handler.steps[i] {
        Step::Delay(d) => (d.sample(rng), None),
        Step::Call { dependency } => {
            let r = deps[*dependency].call(now);
            let failed = match r.outcome {
                CallOutcome::Ok => None,
                CallOutcome::Error => Some(StepFailure::DependencyError),
                CallOutcome::Timeout => Some(StepFailure::DependencyTimeout),
            };
            (r.duration_ns, failed)
        }
    }
}

/// Why an attempt at `key` fails when its last step completes: a poison key
/// (a stateless hash of the key, so every attempt at it fails), or a handler
/// error (one draw from `rng`, made only for keys that are not poison).
#[inline]
pub fn fails_at_end(handler: &Handler, seed: u64, key: u64, rng: &mut Stream) -> Option<&'static str> {
    // No key is poison at fraction 0 (the hash is in [0, 1)): skip the hash.
    if handler.poison_fraction > 0.0 && hash_unit(seed, POISON_SALT, key) < handler.poison_fraction {
        return Some("poison message");
    }
    if chance(rng, handler.fail_probability) {
        return Some("handler error");
    }
    None
}

/// The idempotency check an attempt makes when it starts, if the strategy
/// has one (`check_then_mark`, `claim_first`): the store's answer, the
/// store's latency, and whether the attempt now holds a claim.
#[inline]
pub fn start_check(store: &mut Store, now: Nanos, key: u64, rng: &mut Stream) -> Option<(Check, Nanos, bool)> {
    let strategy = store.strategy();
    if !matches!(strategy, Strategy::CheckThenMark | Strategy::ClaimFirst) {
        return None;
    }
    let check = store.check(now, key);
    let latency = store.cfg.latency.sample(rng);
    let claimed = strategy == Strategy::ClaimFirst && matches!(check, Check::Proceed { .. });
    Some((check, latency, claimed))
}

/// What an attempt does once the store has answered its check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// Already done: skip the handler and succeed (counted as suppressed).
    Done,
    /// claim_first: another attempt holds the claim; the attempt fails.
    InProgress,
    /// Run the handler.
    Proceed,
}

/// Count the store's answer in queue metrics `m` and say what follows.
#[inline]
pub fn checked(m: &mut Metrics, check: Check) -> Checked {
    match check {
        Check::Done => {
            m.idempotency.suppressed += 1;
            Checked::Done
        }
        Check::InProgress => {
            m.idempotency.rejected_in_progress += 1;
            Checked::InProgress
        }
        Check::Proceed { .. } => Checked::Proceed,
    }
}

/// The trace detail of an attempt turned away by a held claim.
pub const CLAIM_HELD: &str = "idempotency claim held by another attempt";

/// The message an attempt works on, as the effect's commit needs it.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    pub handle: Handle,
    pub key: u64,
    pub first_send_ns: Nanos,
    /// Ordered queues: the group and the message's place in it.
    pub group: u32,
    pub seq: u32,
    /// The store's answer at the start.
    pub check: Check,
}

/// The effect step of `a` completes on queue `q` at `now`: the store decides
/// (`atomic` may suppress it), then the effect counts, as a duplicate if its
/// logical key already had one; traced under `name`.
#[inline]
pub fn commit_effect(store: &mut Store, obs: &mut Obs, now: Nanos, q: usize, a: Attempt, name: &str) {
    let strategy = store.strategy();
    let mut forgotten = matches!(a.check, Check::Proceed { forgotten: true });
    if strategy != Strategy::None {
        match store.commit(now, a.key) {
            Commit::Suppress => {
                obs.m[q].idempotency.suppressed += 1;
                return;
            }
            Commit::Apply { forgotten: f } => forgotten |= f,
        }
    }
    let duplicate = obs.m[q].effect(now, a.key, a.first_send_ns, a.group, a.seq);
    let h = a.handle;
    if duplicate {
        let breach = match strategy {
            _ if forgotten && strategy != Strategy::None => Breach::KeyExpired,
            Strategy::None => Breach::Unprotected,
            Strategy::CheckThenMark => Breach::Race,
            Strategy::ClaimFirst => Breach::ClaimExpired,
            Strategy::Atomic => Breach::KeyExpired,
        };
        obs.m[q].idempotency.breaches[breach as usize] += 1;
        obs.trace(q, now, Kind::DuplicateEffect, Some(h.id), name, Some(h.receive), "");
    } else {
        obs.trace(q, now, Kind::Effect, Some(h.id), name, Some(h.receive), "");
    }
}
