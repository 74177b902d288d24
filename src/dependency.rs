//! Slow dependencies: a call's latency and success, with brownout windows
//! (latency multiplied, more errors) and outage windows (every call fails at
//! once, or hangs until the client timeout).

use crate::duration::Nanos;
use crate::rng::{chance, Stream};
use crate::scenario::{Dependency, OutageMode};

/// Result of one call, decided when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallResult {
    pub duration_ns: Nanos,
    pub outcome: CallOutcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    Ok,
    Error,
    Timeout,
}

pub struct DependencyState {
    pub cfg: Dependency,
    rng: Stream,
}

impl DependencyState {
    pub fn new(cfg: Dependency, rng: Stream) -> Self {
        DependencyState { cfg, rng }
    }

    /// A call starting at `now`.
    pub fn call(&mut self, now: Nanos) -> CallResult {
        let timeout = self.cfg.timeout_ns;
        if let Some(o) = self.cfg.outages.iter().find(|o| o.window.from_ns <= now && now < o.window.to_ns) {
            return match (o.mode, timeout) {
                (OutageMode::Error, _) => CallResult { duration_ns: 0, outcome: CallOutcome::Error },
                (OutageMode::Hang, Some(t)) => CallResult { duration_ns: t, outcome: CallOutcome::Timeout },
                // No client timeout: the call hangs until the outage ends, then fails.
                (OutageMode::Hang, None) => {
                    CallResult { duration_ns: o.window.to_ns - now, outcome: CallOutcome::Error }
                }
            };
        }
        let mut latency = self.cfg.latency.sample(&mut self.rng);
        let mut error_p = self.cfg.error_probability;
        for b in self.cfg.brownouts.iter().filter(|b| b.window.from_ns <= now && now < b.window.to_ns) {
            latency = crate::duration::from_secs_f64(latency as f64 / 1e9 * b.latency_multiplier);
            error_p = (error_p + b.error_probability).min(1.0);
        }
        match timeout {
            Some(t) if latency > t => CallResult { duration_ns: t, outcome: CallOutcome::Timeout },
            _ if chance(&mut self.rng, error_p) => CallResult { duration_ns: latency, outcome: CallOutcome::Error },
            _ => CallResult { duration_ns: latency, outcome: CallOutcome::Ok },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::Dist;
    use crate::duration::NS_PER_S;
    use crate::rng::stream;
    use crate::scenario::{Brownout, Outage, Window};

    fn dep() -> DependencyState {
        let cfg = Dependency {
            name: "db".into(),
            latency: Dist::Constant(2 * NS_PER_S),
            error_probability: 0.0,
            timeout_ns: Some(5 * NS_PER_S),
            brownouts: vec![Brownout {
                window: Window { from_ns: 100 * NS_PER_S, to_ns: 200 * NS_PER_S },
                latency_multiplier: 3.0,
                error_probability: 0.0,
            }],
            outages: vec![Outage {
                window: Window { from_ns: 300 * NS_PER_S, to_ns: 400 * NS_PER_S },
                mode: OutageMode::Hang,
            }],
        };
        DependencyState::new(cfg, stream(1, "dep"))
    }

    #[test]
    fn brownout_slows_calls_past_the_timeout_only_inside_its_window() {
        let mut d = dep();
        assert_eq!(d.call(50 * NS_PER_S), CallResult { duration_ns: 2 * NS_PER_S, outcome: CallOutcome::Ok });
        assert_eq!(d.call(150 * NS_PER_S), CallResult { duration_ns: 5 * NS_PER_S, outcome: CallOutcome::Timeout });
        assert_eq!(d.call(200 * NS_PER_S).outcome, CallOutcome::Ok);
        assert_eq!(d.call(350 * NS_PER_S), CallResult { duration_ns: 5 * NS_PER_S, outcome: CallOutcome::Timeout });
    }

    #[test]
    fn error_probability_is_reproduced() {
        let mut d = dep();
        d.cfg.error_probability = 0.2;
        let n = 50_000;
        let errors = (0..n).filter(|_| d.call(0).outcome == CallOutcome::Error).count() as f64;
        let sd = (0.2f64 * 0.8 / n as f64).sqrt();
        assert!((errors / n as f64 - 0.2).abs() < 4.0 * sd, "{errors}");
    }
}
