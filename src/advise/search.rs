//! The search: which settings are simulated, and in what order.
//!
//! Every setting runs `replications` times with the seeds of
//! `rng::replication_seed` (the same seeds at every setting: common random
//! numbers, as in sweeps), and is simulated at most once (a cache keyed by
//! the setting). Replications run in parallel on rayon; the searches of the
//! heartbeat families run in parallel too. Which settings are simulated
//! depends only on the results of earlier settings, never on timing, so the
//! answer and the run count are the same for any thread count.
//!
//! 1. Pilot: the lease at its maximum without a heartbeat, so no lease
//!    expires under a working handler: the processing-time percentiles
//!    (p50, p99, max) that size the search and the rules of thumb.
//! 2. Family "no heartbeat": the duplicate rate does not increase with VT
//!    (for a fixed heartbeat; common random numbers keep it so), so the
//!    lowest VT meeting the duplicate budget is found by bisection over
//!    whole seconds in 1..=ceil(max processing)+1 instead of a scan.
//! 3. Families "heartbeat every i, extending to k x i" (k = 2, 3; i from a
//!    ladder of intervals shorter than the longest processing time): with
//!    a heartbeat the lease never lapses once VT > i, so the lowest VT is
//!    bisected in 1..=i+1. A longer interval costs fewer calls but lets a
//!    crashed worker's message wait longer (up to k x i) and lets more slow
//!    attempts outlive a short first lease, so "meets the duplicate and
//!    retry budgets" holds for a prefix of the ladder: the longest interval
//!    that does (the cheapest) is found by bisection over the ladder; then
//!    shorter intervals are tried while their cost stays within 1% of it
//!    (the recommendation prefers the shorter wait among near-equal costs).
//! 4. maxReceiveCount: stages 2-3 run at the largest candidate (fewest
//!    dead-lettered messages; a lower cap can only remove deliveries). The
//!    best few settings simulated so far (in the order the recommendation
//!    is chosen in, bisection probes included) are then simulated at every
//!    candidate cap.
//! 5. The rules of thumb are simulated on the same load.
//! 6. When no setting meets every budget, the shortest lease (VT 1 s, no
//!    heartbeat) is simulated too: it has the shortest possible wait after a
//!    crash, so the explanation can tell a retry budget that no lease meets
//!    from one that conflicts with the duplicate budget.
//!
//! Stages 2-4 assume the monotone trends above; every reported number is
//! nevertheless a simulated one, never an interpolation.

use super::budget::{rate_bound, Budgets, Constraint, Measured, RateBound};
use super::knobs::{Heartbeat, Knobs, Setting};
use crate::config::{Override, Source};
use crate::dist::Dist;
use crate::error::{Error, InputError};
use crate::rng::replication_seed;
use crate::scenario::{Scenario, Step};
use crate::sim::{run, RunOptions};
use crate::summary::Summary;
use indicatif::ProgressBar;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Heartbeat intervals tried, in seconds.
pub const INTERVALS_S: &[u32] = &[1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1800, 3600];
/// Extension = multiple x interval.
pub const EXTENSION_MULTIPLES: &[u32] = &[2, 3];
/// maxReceiveCount candidates (AWS advises against 1; the scenario's own is added).
pub const MAX_RECEIVE_COUNTS: &[u32] = &[3, 5, 10];
/// How many of the best settings are tried at every maxReceiveCount.
const MRC_STAGE_TOP: usize = 3;

/// The load every setting is simulated on.
pub struct Load {
    pub source: Source,
    pub overrides: Vec<Override>,
    pub knobs: &'static Knobs,
    /// Replaces the scenario's handler steps (the user's processing times).
    pub processing: Option<Dist>,
    pub replications: u32,
}

impl Load {
    /// The scenario of `setting`, seeded for replication `rep`.
    pub fn scenario(&self, setting: &Setting, rep: u32) -> Result<Scenario, InputError> {
        let mut all = self.overrides.clone();
        all.extend(setting.overrides(self.knobs));
        let mut s = self.source.resolve(&all, None)?;
        if let Some(d) = &self.processing {
            s.handler.steps = vec![Step::Delay(d.clone())];
            s.handler.effect_step = 0;
        }
        s.seed = replication_seed(s.seed, rep);
        Ok(s)
    }
}

/// A setting simulated `replications` times.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub setting: Setting,
    pub duplicate_rate: RateBound,
    pub duplicate_effects: u64,
    pub logical_sent: u64,
    /// Largest retry-latency p99 over the replications, seconds.
    pub retry_p99_s: f64,
    pub retries: u64,
    pub cost_per_million_usd: f64,
    pub api_calls_per_message: f64,
    pub dlq_rate: RateBound,
    /// Redelivery causes summed over replications:
    /// concurrent, after_failure, after_crash, after_success, broker.
    pub causes: [u64; 5],
    /// Processing time percentiles (mean p50/p99 over replications, largest max), seconds.
    pub processing_s: (f64, f64, f64),
}

impl Evaluation {
    pub fn measured(&self) -> Measured {
        Measured {
            duplicate_upper: self.duplicate_rate.upper,
            retry_p99_s: self.retry_p99_s,
            cost_per_million_usd: self.cost_per_million_usd,
            dlq_upper: self.dlq_rate.upper,
        }
    }

    fn from_summaries(setting: Setting, sums: &[Summary], confidence: f64) -> Evaluation {
        let n = sums.len().max(1) as f64;
        let logical: u64 = sums.iter().map(|s| s.logical_sent).sum();
        let dups: u64 = sums.iter().map(|s| s.duplicate_effects).sum();
        let dlq: u64 = sums.iter().map(|s| s.final_states.dlq).sum();
        let rates: Vec<f64> = sums.iter().map(|s| s.duplicate_rate).collect();
        let per = |num: u64, den: u64| if den == 0 { 0.0 } else { num as f64 / den as f64 };
        let dlq_rates: Vec<f64> = sums.iter().map(|s| per(s.final_states.dlq, s.logical_sent)).collect();
        let mean = |f: &dyn Fn(&Summary) -> f64| sums.iter().map(f).sum::<f64>() / n;
        let mut causes = [0; 5];
        for s in sums {
            let c = &s.causes;
            for (slot, v) in
                causes.iter_mut().zip([c.concurrent, c.after_failure, c.after_crash, c.after_success, c.broker])
            {
                *slot += v;
            }
        }
        Evaluation {
            setting,
            duplicate_rate: rate_bound(&rates, dups, logical, confidence),
            duplicate_effects: dups,
            logical_sent: logical,
            retry_p99_s: sums.iter().map(|s| s.retry_latency_s.p99).fold(0.0, f64::max),
            retries: sums.iter().map(|s| s.retry_latency_s.count).sum(),
            cost_per_million_usd: mean(&|s| per_million(s.cost_usd, s.logical_sent)),
            api_calls_per_message: mean(&|s| per(s.api_calls.billed_requests, s.logical_sent)),
            dlq_rate: rate_bound(&dlq_rates, dlq, logical, confidence),
            causes,
            processing_s: (
                mean(&|s| s.processing_s.p50),
                mean(&|s| s.processing_s.p99),
                sums.iter().map(|s| s.processing_s.max).fold(0.0, f64::max),
            ),
        }
    }
}

fn per_million(cost: f64, messages: u64) -> f64 {
    if messages == 0 {
        0.0
    } else {
        cost / messages as f64 * 1e6
    }
}

/// Runs settings, each at most once.
pub struct Evaluator<'a> {
    pub load: &'a Load,
    pub budgets: Budgets,
    cache: Mutex<BTreeMap<Setting, Arc<Evaluation>>>,
    bar: ProgressBar,
}

impl<'a> Evaluator<'a> {
    pub fn new(load: &'a Load, budgets: Budgets, bar: ProgressBar) -> Evaluator<'a> {
        Evaluator { load, budgets, cache: Mutex::new(BTreeMap::new()), bar }
    }

    /// Simulate `setting` (or return the earlier result).
    pub fn eval(&self, setting: Setting) -> Result<Arc<Evaluation>, Error> {
        if let Some(e) = self.cache.lock().expect("cache").get(&setting) {
            return Ok(Arc::clone(e));
        }
        let sums = (0..self.load.replications)
            .into_par_iter()
            .map(|rep| {
                let scenario = self.load.scenario(&setting, rep)?;
                let (summary, _) = run(&scenario, RunOptions::default()).map_err(|e| at_setting(&setting, rep, e))?;
                self.bar.inc(1);
                Ok(summary)
            })
            .collect::<Result<Vec<Summary>, Error>>()?;
        let e = Arc::new(Evaluation::from_summaries(setting, &sums, self.budgets.confidence));
        let mut cache = self.cache.lock().expect("cache");
        Ok(Arc::clone(cache.entry(setting).or_insert(e)))
    }

    /// Every setting simulated so far, in setting order.
    pub fn evaluated(&self) -> Vec<Arc<Evaluation>> {
        self.cache.lock().expect("cache").values().cloned().collect()
    }

    fn dup_ok(&self, e: &Evaluation) -> bool {
        self.budgets.meets(Constraint::DuplicateRate, &e.measured())
    }

    fn dup_and_retry_ok(&self, e: &Evaluation) -> bool {
        self.dup_ok(e) && self.budgets.meets(Constraint::RetryLatency, &e.measured())
    }

    /// The lowest VT in 1..=hi meeting the duplicate budget with this
    /// heartbeat and cap, by bisection (None if `hi` does not).
    pub fn lowest_vt(&self, hb: Option<Heartbeat>, mrc: u32, hi: u32) -> Result<Option<Arc<Evaluation>>, Error> {
        let at = |vt: u32| self.eval(Setting { vt_s: vt, heartbeat: hb, max_receive_count: Some(mrc) });
        let top = at(hi)?;
        if !self.dup_ok(&top) {
            return Ok(None);
        }
        let (mut lo, mut hi, mut best) = (0u32, hi, top);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            let e = at(mid)?;
            if self.dup_ok(&e) {
                hi = mid;
                best = e;
            } else {
                lo = mid;
            }
        }
        Ok(Some(best))
    }

    /// The longest interval of the ladder whose lowest VT meets the
    /// duplicate and retry budgets, for extension = `multiple` x interval.
    fn best_heartbeat(&self, ladder: &[u32], multiple: u32, mrc: u32) -> Result<Option<Arc<Evaluation>>, Error> {
        let probe = |i: usize| -> Result<Option<Arc<Evaluation>>, Error> {
            let hb = Heartbeat { interval_s: ladder[i], extension_s: ladder[i] * multiple };
            let e = self.lowest_vt(Some(hb), mrc, ladder[i] + 1)?;
            Ok(e.filter(|e| self.dup_and_retry_ok(e)))
        };
        // Invariant: every index <= lo passes (lo = -1: none known), every index >= hi fails.
        let (mut lo, mut hi): (isize, isize) = (-1, ladder.len() as isize);
        let mut best = None;
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            match probe(mid as usize)? {
                Some(e) => {
                    lo = mid;
                    best = Some(e);
                }
                None => hi = mid,
            }
        }
        // Shorter intervals cost more but shorten the wait after a crash; the
        // recommendation prefers the shorter wait among costs within
        // COST_TIE of the cheapest, so walk down while the cost stays there.
        if let Some(b) = &best {
            let limit = b.cost_per_million_usd * (1.0 + COST_TIE);
            let mut i = lo;
            while i > 0 {
                i -= 1;
                match probe(i as usize)? {
                    Some(e) if e.cost_per_million_usd <= limit => {}
                    _ => break,
                }
            }
        }
        Ok(best)
    }
}

fn at_setting(setting: &Setting, rep: u32, e: Error) -> Error {
    let what = format!("advise: {} (replication {rep})", setting.label());
    match e {
        Error::Input(i) => Error::Input(InputError::new(i.location, format!("{what}: {}", i.message))),
        Error::Limit(m) => Error::Limit(format!("{what}: {m}")),
        Error::Io(m) => Error::Io(format!("{what}: {m}")),
        Error::Bug(m) => Error::Bug(format!("{what}: {m}")),
    }
}

/// The processing times of the load, from the pilot run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Processing {
    pub p50_s: f64,
    pub p99_s: f64,
    pub max_s: f64,
}

/// What the search found.
pub struct Found {
    pub pilot: Arc<Evaluation>,
    pub processing: Processing,
    /// The maxReceiveCount candidates, ascending; the last is the reference.
    pub max_receive_counts: Vec<u32>,
    /// The largest VT of the no-heartbeat family and the heartbeat ladder used.
    pub vt_hi_s: u32,
    pub ladder: Vec<u32>,
}

/// Whole seconds at or above `s`, within 1..=max.
pub fn ceil_s(s: f64, max: u32) -> u32 {
    if !s.is_finite() || s <= 1.0 {
        return 1;
    }
    (s.ceil().min(f64::from(max))) as u32
}

/// Run the search (stages 1-4), or with `exhaustive` every setting of the
/// full grid (to check the search against). Afterwards `ev.evaluated()`
/// holds every simulated setting.
pub fn search(ev: &Evaluator, scenario_mrc: Option<u32>, exhaustive: bool) -> Result<Found, Error> {
    let k = ev.load.knobs;
    let mut mrcs: Vec<u32> = MAX_RECEIVE_COUNTS.to_vec();
    mrcs.extend(scenario_mrc);
    mrcs.sort_unstable();
    mrcs.dedup();
    let mrc_ref = *mrcs.last().expect("candidates");
    ev.bar.set_message("pilot");
    let pilot = ev.eval(Setting { vt_s: k.lease_max_s, heartbeat: None, max_receive_count: Some(mrc_ref) })?;
    let (p50_s, p99_s, max_s) = pilot.processing_s;
    let processing = Processing { p50_s, p99_s, max_s };
    let vt_hi_s = ceil_s(max_s + 1.0, k.lease_max_s);
    let ladder: Vec<u32> =
        INTERVALS_S.iter().copied().filter(|&i| f64::from(i) < max_s && i < k.lease_max_s / 3).collect();
    if exhaustive {
        ev.bar.set_message("full grid");
        let found = Found { pilot, processing, max_receive_counts: mrcs, vt_hi_s, ladder };
        let all = full_grid(&found);
        all.par_iter().map(|s| ev.eval(*s).map(|_| ())).collect::<Result<(), Error>>()?;
        return Ok(found);
    }
    ev.bar.set_message("lease x heartbeat");
    // Stage 2 and 3, in parallel: family None, then one per multiple.
    let families: Vec<Option<u32>> =
        std::iter::once(None).chain(EXTENSION_MULTIPLES.iter().map(|&m| Some(m))).collect();
    let found: Vec<Option<Arc<Evaluation>>> = families
        .par_iter()
        .map(|f| match f {
            None => Ok(ev.lowest_vt(None, mrc_ref, vt_hi_s)?.filter(|e| ev.dup_and_retry_ok(e))),
            Some(m) => ev.best_heartbeat(&ladder, *m, mrc_ref),
        })
        .collect::<Result<_, Error>>()?;
    // Stage 4: the best few at every cap: the first in the recommendation's
    // order among all settings simulated so far that meet every budget
    // (probes of the bisections included), else the families' best.
    ev.bar.set_message("maxReceiveCount");
    let mut best: Vec<Arc<Evaluation>> = ev
        .evaluated()
        .into_iter()
        .filter(|e| e.setting.vt_s < k.lease_max_s && ev.budgets.meets_all(&e.measured()))
        .collect();
    order_feasible(&mut best);
    if best.is_empty() {
        best = found.into_iter().flatten().collect();
        best.sort_by(|a, b| rank(a, b));
    }
    let jobs: Vec<Setting> = best
        .iter()
        .take(MRC_STAGE_TOP)
        .flat_map(|e| mrcs.iter().map(move |&m| Setting { max_receive_count: Some(m), ..e.setting }))
        .collect();
    jobs.par_iter().map(|s| ev.eval(*s).map(|_| ())).collect::<Result<(), Error>>()?;
    Ok(Found { pilot, processing, max_receive_counts: mrcs, vt_hi_s, ladder })
}

/// Cheapest first; then shorter retry wait, fewer duplicates, fewer
/// dead-lettered messages, and the setting itself (so the order is total and the same on every machine).
pub fn rank(a: &Evaluation, b: &Evaluation) -> std::cmp::Ordering {
    a.cost_per_million_usd
        .total_cmp(&b.cost_per_million_usd)
        .then(a.retry_p99_s.total_cmp(&b.retry_p99_s))
        .then(a.duplicate_rate.upper.total_cmp(&b.duplicate_rate.upper))
        .then(a.dlq_rate.upper.total_cmp(&b.dlq_rate.upper))
        .then(a.setting.cmp(&b.setting))
}

/// Costs within this fraction of the cheapest count as equal: smaller
/// differences are simulation noise (a few receives more or less).
pub const COST_TIE: f64 = 0.01;

/// Order settings that meet every budget: those costing at most
/// `1 + COST_TIE` times the cheapest first, by shorter retry wait, fewer
/// duplicates, fewer dead letters, cost and the setting; then the rest by [`rank`].
pub fn order_feasible(v: &mut [Arc<Evaluation>]) {
    v.sort_by(|a, b| rank(a, b));
    let Some(min) = v.first().map(|e| e.cost_per_million_usd) else { return };
    let near = v.iter().take_while(|e| e.cost_per_million_usd <= min * (1.0 + COST_TIE)).count();
    v[..near].sort_by(|a, b| {
        a.retry_p99_s
            .total_cmp(&b.retry_p99_s)
            .then(a.duplicate_rate.upper.total_cmp(&b.duplicate_rate.upper))
            .then(a.dlq_rate.upper.total_cmp(&b.dlq_rate.upper))
            .then(rank(a, b))
    });
}

/// Every setting of the full grid the search covers.
pub fn full_grid(found: &Found) -> Vec<Setting> {
    let mut out = Vec::new();
    for &m in &found.max_receive_counts {
        let mrc = Some(m);
        out.extend((1..=found.vt_hi_s).map(|vt| Setting { vt_s: vt, heartbeat: None, max_receive_count: mrc }));
        for &k in EXTENSION_MULTIPLES {
            for &i in &found.ladder {
                let hb = Some(Heartbeat { interval_s: i, extension_s: k * i });
                out.extend((1..=i + 1).map(|vt| Setting { vt_s: vt, heartbeat: hb, max_receive_count: mrc }));
            }
        }
    }
    out
}

/// How many runs the full grid the search covers would take: every whole
/// second of VT up to the family's bound, for no heartbeat and every
/// heartbeat of the ladder, at every cap, times the replications.
pub fn full_grid_runs(found: &Found, replications: u32) -> u64 {
    let hb: u64 = found.ladder.iter().map(|&i| u64::from(i) + 1).sum::<u64>() * EXTENSION_MULTIPLES.len() as u64;
    (u64::from(found.vt_hi_s) + hb) * found.max_receive_counts.len() as u64 * u64::from(replications)
}
