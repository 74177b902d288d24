//! Latency distributions: constant, scripted sequence, uniform, exponential,
//! lognormal (by median and p99), Pareto, and empirical (from a CSV of
//! observed latencies). Samples are integer nanoseconds.
//!
//! Exponential and lognormal draws come from the ziggurat samplers of
//! `dist/ziggurat.rs` (MODEL_VERSION 4; before, -ln(U) and Acklam's inverse
//! normal CDF of one uniform). Uniform, Pareto and empirical draws invert
//! their CDF at one uniform draw.
//!
//! To add a distribution: a variant here, its sampling arm in
//! [`Dist::sample`], and its TOML form in `config/dist.rs` (`RawDist`).

use crate::duration::{from_secs_f64, Nanos, NS_PER_S};
use crate::rng::{unit, Stream};

/// z such that P(Z <= z) = 0.99 for a standard normal Z.
pub const Z99: f64 = 2.326_347_874_040_841;

/// A latency distribution, resolved (all durations in ns or seconds).
#[derive(Debug, Clone, PartialEq)]
pub enum Dist {
    Constant(Nanos),
    /// A scripted list, used in order by every draw, cycling at the end.
    Sequence {
        values: Vec<Nanos>,
        next: usize,
    },
    Uniform {
        low: Nanos,
        high: Nanos,
    },
    Exponential {
        mean_s: f64,
    },
    /// ln(X) ~ Normal(mu, sigma), X in seconds.
    LogNormal {
        mu: f64,
        sigma: f64,
    },
    /// P(X > x) = (scale/x)^shape for x >= scale, X in seconds.
    Pareto {
        scale_s: f64,
        shape: f64,
    },
    /// Sorted observations (ns); sampled by the inverse of the empirical CDF
    /// with linear interpolation between order statistics.
    Empirical {
        sorted: Vec<Nanos>,
    },
}

impl Dist {
    /// Lognormal with the given median and 99th percentile (p99 > median).
    pub fn lognormal(median: Nanos, p99: Nanos) -> Dist {
        let (m, p) = (median as f64 / NS_PER_S as f64, p99 as f64 / NS_PER_S as f64);
        Dist::LogNormal { mu: libm::log(m), sigma: libm::log(p / m) / Z99 }
    }

    /// One draw.
    pub fn sample(&mut self, rng: &mut Stream) -> Nanos {
        match self {
            Dist::Constant(v) => *v,
            Dist::Sequence { values, next } => {
                let v = values[*next % values.len()];
                *next = (*next + 1) % values.len();
                v
            }
            Dist::Uniform { low, high } => *low + ((*high - *low) as f64 * unit(rng)).round() as u64,
            Dist::Exponential { mean_s } => from_secs_f64(*mean_s * exp1(rng)),
            Dist::LogNormal { mu, sigma } => from_secs_f64(exp::exp(*mu + *sigma * standard_normal(rng))),
            Dist::Pareto { scale_s, shape } => from_secs_f64(*scale_s / libm::pow(1.0 - unit(rng), 1.0 / *shape)),
            Dist::Empirical { sorted } => empirical(sorted, unit(rng)),
        }
    }

    /// P(X > x), where it has a closed form (used by theory checks and docs).
    pub fn survival(&self, x: Nanos) -> Option<f64> {
        let xs = x as f64 / NS_PER_S as f64;
        match self {
            Dist::Constant(v) => Some(if *v > x { 1.0 } else { 0.0 }),
            Dist::Uniform { low, high } => {
                let (l, h) = (*low as f64, *high as f64);
                Some(((h - x as f64) / (h - l).max(1.0)).clamp(0.0, 1.0))
            }
            Dist::Exponential { mean_s } => Some((-xs / mean_s).exp()),
            Dist::LogNormal { mu, sigma } => Some(normal_sf((xs.ln() - mu) / sigma)),
            Dist::Pareto { scale_s, shape } => Some(if xs <= *scale_s { 1.0 } else { (scale_s / xs).powf(*shape) }),
            Dist::Sequence { .. } | Dist::Empirical { .. } => None,
        }
    }

    /// Mean in seconds, where finite and known.
    pub fn mean_s(&self) -> Option<f64> {
        let s = |ns: Nanos| ns as f64 / NS_PER_S as f64;
        match self {
            Dist::Constant(v) => Some(s(*v)),
            Dist::Sequence { values, .. } => Some(values.iter().map(|v| s(*v)).sum::<f64>() / values.len() as f64),
            Dist::Uniform { low, high } => Some((s(*low) + s(*high)) / 2.0),
            Dist::Exponential { mean_s } => Some(*mean_s),
            Dist::LogNormal { mu, sigma } => Some((mu + sigma * sigma / 2.0).exp()),
            Dist::Pareto { scale_s, shape } => (*shape > 1.0).then(|| shape * scale_s / (shape - 1.0)),
            Dist::Empirical { sorted } => Some(sorted.iter().map(|v| s(*v)).sum::<f64>() / sorted.len() as f64),
        }
    }
}

mod exp;
mod ziggurat;

/// Exp(1) and standard normal draws: the ziggurat method (`dist/ziggurat.rs`).
pub use ziggurat::{exp1, standard_normal};

/// The standard normal quantile of `p` in (0, 1) (Acklam's rational
/// approximation, relative error below 1.2e-9; `advise` uses it for its
/// confidence bounds).
pub fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] =
        [7.784_695_709_041_462e-3, 3.224_671_290_700_398e-1, 2.445_134_137_142_996, 3.754_408_661_907_416];
    const P_LOW: f64 = 0.02425;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < P_LOW {
        tail(libm::sqrt(-2.0 * libm::log(p)))
    } else if p <= 1.0 - P_LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -tail(libm::sqrt(-2.0 * libm::log(1.0 - p)))
    }
}

fn empirical(sorted: &[Nanos], u: f64) -> Nanos {
    if sorted.len() == 1 {
        return sorted[0];
    }
    let pos = u * (sorted.len() - 1) as f64;
    let i = pos.floor() as usize;
    let frac = pos - i as f64;
    let (a, b) = (sorted[i] as f64, sorted[(i + 1).min(sorted.len() - 1)] as f64);
    (a + (b - a) * frac).round() as Nanos
}

/// P(Z > z) for a standard normal Z (Abramowitz-Stegun 7.1.26 via erfc; |error| < 1.5e-7).
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly =
        t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let r = poly * (-x * x).exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    fn draws(d: &mut Dist, n: usize) -> Vec<f64> {
        let mut rng = stream(42, "dist-test");
        (0..n).map(|_| d.sample(&mut rng) as f64 / 1e9).collect()
    }

    fn quantile(mut xs: Vec<f64>, q: f64) -> f64 {
        xs.sort_by(f64::total_cmp);
        xs[((xs.len() as f64 - 1.0) * q) as usize]
    }

    #[test]
    fn lognormal_has_the_requested_median_and_p99() {
        let mut d = Dist::lognormal(20 * NS_PER_S, 45 * NS_PER_S);
        let xs = draws(&mut d, 200_000);
        let (p50, p99) = (quantile(xs.clone(), 0.5), quantile(xs, 0.99));
        assert!((p50 - 20.0).abs() < 0.3, "p50 {p50}");
        assert!((p99 - 45.0).abs() < 1.2, "p99 {p99}");
        let sf = d.survival(45 * NS_PER_S).unwrap();
        assert!((sf - 0.01).abs() < 1e-6, "survival at p99 {sf}");
    }

    #[test]
    fn exponential_and_pareto_means_match_theory() {
        let mut e = Dist::Exponential { mean_s: 2.0 };
        let m = draws(&mut e, 200_000).iter().sum::<f64>() / 200_000.0;
        assert!((m - 2.0).abs() < 0.03, "exp mean {m}");
        let mut p = Dist::Pareto { scale_s: 1.0, shape: 3.0 };
        let xs = draws(&mut p, 200_000);
        assert!(xs.iter().all(|x| *x >= 1.0));
        let m = xs.iter().sum::<f64>() / 200_000.0;
        assert!((m - 1.5).abs() < 0.03, "pareto mean {m}");
    }

    #[test]
    fn sequence_is_used_in_order_and_cycles() {
        let mut d = Dist::Sequence { values: vec![45 * NS_PER_S, 29 * NS_PER_S], next: 0 };
        assert_eq!(draws(&mut d, 3), vec![45.0, 29.0, 45.0]);
    }

    #[test]
    fn uniform_and_empirical_stay_in_range() {
        let mut u = Dist::Uniform { low: NS_PER_S, high: 3 * NS_PER_S };
        let xs = draws(&mut u, 10_000);
        assert!(xs.iter().all(|x| (1.0..=3.0).contains(x)));
        let mut e = Dist::Empirical { sorted: vec![NS_PER_S, 2 * NS_PER_S, 10 * NS_PER_S] };
        let xs = draws(&mut e, 10_000);
        assert!(xs.iter().all(|x| (1.0..=10.0).contains(x)));
        assert!((quantile(xs, 0.5) - 2.0).abs() < 0.1);
    }

    #[test]
    fn inverse_normal_matches_the_table_and_is_symmetric() {
        for (p, z) in [(0.5, 0.0), (0.975, 1.959_963_984_540_054), (0.99, Z99), (0.001, -3.090_232_306_167_813)] {
            assert!((inverse_normal_cdf(p) - z).abs() < 1e-8, "p={p}: {}", inverse_normal_cdf(p));
        }
        for p in [1e-6, 0.01, 0.02425, 0.3, 0.49] {
            assert!((inverse_normal_cdf(p) + inverse_normal_cdf(1.0 - p)).abs() < 1e-8, "p={p}");
        }
    }

    #[test]
    fn standard_normal_draws_have_mean_0_and_variance_1() {
        let mut rng = stream(9, "normal");
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| standard_normal(&mut rng)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.015, "variance {var}");
        let above = xs.iter().filter(|x| **x > Z99).count() as f64 / n as f64;
        assert!((above - 0.01).abs() < 0.0015, "P(Z > z99) {above}");
    }

    #[test]
    fn normal_tail_matches_table() {
        assert!((normal_sf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_sf(Z99) - 0.01).abs() < 1e-6);
        assert!((normal_sf(-1.0) - 0.841_344_7).abs() < 1e-6);
    }
}
