//! Budgets and how a measured setting is judged against them.
//!
//! - Duplicate rate: the one-sided upper bound at `confidence` must not
//!   exceed the budget. The bound is the larger of two: Student's t over the
//!   replications' rates (run-to-run variation, the bound `[expect] { mean =
//!   ... }` uses, so a recommendation locks in as an expectation that
//!   passes), and Wilson's score bound on the pooled count (duplicate
//!   effects over logical messages of all replications), which stays above
//!   zero when no duplicate was seen: a finite sample never shows a rate of
//!   exactly zero.
//! - Retry latency p99: the largest p99 over the replications (the worst
//!   seed) must not exceed the budget, as `"retry_latency_s.p99" = "<= B"`
//!   checks per replication. It is measured on the scenario's own failures
//!   and crashes; a scenario with neither measures none (0).
//! - Cost per million messages (optional): the mean over replications of
//!   cost_usd / logical messages x 1e6.
//! - DLQ rate (optional): messages ending in the dead-letter queue over
//!   logical messages, upper bound as for duplicates.

use crate::dist::inverse_normal_cdf;

/// What the user allows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budgets {
    pub max_duplicate_rate: f64,
    pub confidence: f64,
    pub max_retry_p99_s: f64,
    pub max_cost_per_million_usd: Option<f64>,
    pub max_dlq_rate: Option<f64>,
}

/// A rate with its one-sided bounds at the confidence level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateBound {
    pub mean: f64,
    pub lower: f64,
    pub upper: f64,
}

/// Mean of `rates`, with the bounds described in the module documentation.
/// `count` events in `n` trials pooled over all replications.
pub fn rate_bound(rates: &[f64], count: u64, n: u64, confidence: f64) -> RateBound {
    let (mean, t_lo, t_hi) = crate::expect::mean_ci(rates, confidence);
    let (w_lo, w_hi) = wilson(count, n, confidence);
    RateBound { mean, lower: t_lo.min(w_lo).max(0.0), upper: t_hi.max(w_hi) }
}

/// One-sided Wilson score bounds of a proportion `k / n` (k may exceed n
/// when a message is duplicated more than once; the proportion is then capped at 1).
pub fn wilson(k: u64, n: u64, confidence: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, f64::INFINITY);
    }
    let nf = n as f64;
    let p = (k as f64 / nf).min(1.0);
    let z = inverse_normal_cdf(confidence);
    let z2 = z * z;
    let centre = p + z2 / (2.0 * nf);
    let half = z * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt();
    let denom = 1.0 + z2 / nf;
    (((centre - half) / denom).max(0.0), (centre + half) / denom)
}

/// The constraints, in the order they are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Constraint {
    DuplicateRate,
    RetryLatency,
    Cost,
    DlqRate,
}

impl Constraint {
    pub const ALL: [Constraint; 4] =
        [Constraint::DuplicateRate, Constraint::RetryLatency, Constraint::Cost, Constraint::DlqRate];

    /// The key used in JSON.
    pub fn key(self) -> &'static str {
        match self {
            Constraint::DuplicateRate => "duplicate_rate",
            Constraint::RetryLatency => "retry_latency_p99",
            Constraint::Cost => "cost_per_million",
            Constraint::DlqRate => "dlq_rate",
        }
    }
}

/// The measured numbers a verdict needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    pub duplicate_upper: f64,
    pub retry_p99_s: f64,
    pub cost_per_million_usd: f64,
    pub dlq_upper: f64,
}

impl Budgets {
    /// The budget of `c` (None when not given).
    pub fn limit(&self, c: Constraint) -> Option<f64> {
        match c {
            Constraint::DuplicateRate => Some(self.max_duplicate_rate),
            Constraint::RetryLatency => Some(self.max_retry_p99_s),
            Constraint::Cost => self.max_cost_per_million_usd,
            Constraint::DlqRate => self.max_dlq_rate,
        }
    }

    /// The measured value compared with the budget of `c`.
    pub fn value(c: Constraint, m: &Measured) -> f64 {
        match c {
            Constraint::DuplicateRate => m.duplicate_upper,
            Constraint::RetryLatency => m.retry_p99_s,
            Constraint::Cost => m.cost_per_million_usd,
            Constraint::DlqRate => m.dlq_upper,
        }
    }

    /// Does `m` meet the budget of `c` (true when there is none)?
    pub fn meets(&self, c: Constraint, m: &Measured) -> bool {
        self.limit(c).is_none_or(|b| Budgets::value(c, m) <= b)
    }

    pub fn meets_all(&self, m: &Measured) -> bool {
        Constraint::ALL.iter().all(|&c| self.meets(c, m))
    }

    /// How far `m` is from meeting every budget: the largest ratio of value
    /// to budget (1 or less: met). Used to rank the closest points.
    pub fn excess(&self, m: &Measured) -> f64 {
        Constraint::ALL
            .iter()
            .filter_map(|&c| {
                let b = self.limit(c)?;
                let v = Budgets::value(c, m);
                Some(if b > 0.0 {
                    v / b
                } else if v > 0.0 {
                    f64::INFINITY
                } else {
                    0.0
                })
            })
            .fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_the_closed_form_and_is_never_zero() {
        // 0 events in n: upper = z^2 / (n + z^2).
        let z = inverse_normal_cdf(0.95);
        let (lo, hi) = wilson(0, 1000, 0.95);
        assert_eq!(lo, 0.0);
        assert!((hi - z * z / (1000.0 + z * z)).abs() < 1e-12);
        // 50 in 100 is symmetric around 0.5.
        let (lo, hi) = wilson(50, 100, 0.95);
        assert!((0.5 - lo - (hi - 0.5)).abs() < 1e-12);
        assert!(lo < 0.5 && hi > 0.5);
    }

    #[test]
    fn the_bound_is_the_larger_of_t_and_wilson() {
        // Replications disagree a lot: t is wider than Wilson.
        let b = rate_bound(&[0.0, 0.02, 0.0, 0.02], 40, 4000, 0.95);
        let (_, t_hi) = (0.01, crate::expect::mean_ci(&[0.0, 0.02, 0.0, 0.02], 0.95).2);
        assert_eq!(b.upper, t_hi.max(wilson(40, 4000, 0.95).1));
        assert!((b.mean - 0.01).abs() < 1e-12);
        // No duplicates at all: t says 0, Wilson does not.
        let z = rate_bound(&[0.0, 0.0], 0, 2000, 0.95);
        assert!(z.upper > 0.0 && z.upper < 0.002);
    }

    #[test]
    fn budgets_and_excess() {
        let b = Budgets {
            max_duplicate_rate: 0.01,
            confidence: 0.95,
            max_retry_p99_s: 60.0,
            max_cost_per_million_usd: None,
            max_dlq_rate: None,
        };
        let m = Measured { duplicate_upper: 0.005, retry_p99_s: 90.0, cost_per_million_usd: 5.0, dlq_upper: 1.0 };
        assert!(b.meets(Constraint::DuplicateRate, &m));
        assert!(!b.meets(Constraint::RetryLatency, &m));
        assert!(b.meets(Constraint::Cost, &m));
        assert!(!b.meets_all(&m));
        assert_eq!(b.excess(&m), 1.5);
    }
}
