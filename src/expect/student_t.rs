//! Confidence bounds of a mean over replications, from Student's t distribution: the bound is
//! mean +/- t(p, n-1) * s / sqrt(n) with the sample standard deviation s. The t quantile is
//! found by bisection on the upper tail P(T > t) = I_x(df/2, 1/2) / 2 with x = df / (df + t^2),
//! where I_x is the regularized incomplete beta function, evaluated by its continued fraction
//! (modified Lentz's method, as in Numerical Recipes' `betacf`) with the front factor from
//! ln Gamma by the Lanczos approximation (g = 7, 9 coefficients). Shared by `[expect]` mean
//! conditions, sweep reports, `advise` and the theory checks.

/// Mean and one-sided `confidence` bounds of the mean (Student t, n-1 degrees of freedom):
/// `(mean, lower, upper)`. With fewer than 2 values, or a confidence outside (0, 1), the bounds
/// are infinite (nothing is known); with no values all three are NaN.
pub fn mean_ci(values: &[f64], confidence: f64) -> (f64, f64, f64) {
    let n = values.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n < 2 || !open_unit(confidence) {
        return (mean, f64::NEG_INFINITY, f64::INFINITY);
    }
    let var = values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let half = t_quantile(confidence, (n - 1) as f64) * (var / n as f64).sqrt();
    (mean, mean - half, mean + half)
}

/// Whether `x` lies strictly between 0 and 1 (false for NaN).
pub(super) fn open_unit(x: f64) -> bool {
    x > 0.0 && x < 1.0
}

/// Quantile of Student's t distribution with `df` degrees of freedom, by bisection on the
/// upper tail (computed from the regularized incomplete beta function).
fn t_quantile(p: f64, df: f64) -> f64 {
    if !open_unit(p) || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if p < 0.5 {
        return -t_quantile(1.0 - p, df);
    }
    let df = df.min(1e6);
    let q = 1.0 - p;
    let mut hi = 1.0;
    while t_upper_tail(hi, df) > q && hi < 1e300 {
        hi *= 2.0;
    }
    let mut lo = 0.0;
    for _ in 0..2000 {
        let mid = 0.5 * (lo + hi);
        if t_upper_tail(mid, df) > q {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-13 * hi {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// P(T > t) for t >= 0.
fn t_upper_tail(t: f64, df: f64) -> f64 {
    0.5 * inc_beta(df / 2.0, 0.5, df / (df + t * t))
}

fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + G + 0.5;
    let sum = C[1..].iter().enumerate().fold(C[0], |acc, (i, c)| acc + c / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// Regularized incomplete beta I_x(a, b).
fn inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    let front = ln_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_cf(a, b, x) / a
    } else {
        1.0 - front * beta_cf(b, a, 1.0 - x) / b
    }
}

/// Continued fraction for the incomplete beta function (modified Lentz).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let guard = |v: f64| if v.abs() < TINY { TINY } else { v };
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / guard(1.0 - qab * x / qap);
    let mut h = d;
    for m in 1..20_000 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 / guard(1.0 + aa * d);
        c = guard(1.0 + aa / c);
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 / guard(1.0 + aa * d);
        c = guard(1.0 + aa / c);
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_tables() {
        let cases = [
            (0.95, 4.0, 2.1318),
            (0.975, 9.0, 2.2622),
            (0.95, 1.0, 6.3138),
            (0.975, 1.0, 12.7062),
            (0.995, 2.0, 9.9248),
            (0.99, 10.0, 2.7638),
            (0.95, 30.0, 1.6973),
            (0.95, 1000.0, 1.6464),
            (0.9995, 1.0, 636.6192),
        ];
        for (p, df, want) in cases {
            let got = t_quantile(p, df);
            assert!((got - want).abs() < 1e-4 * want.max(1.0), "t({p}, {df}) = {got}, want {want}");
            assert!((t_quantile(1.0 - p, df) + got).abs() < 1e-9);
        }
        assert_eq!(t_quantile(0.5, 3.0), 0.0);
        assert!(t_quantile(1.0, 3.0).is_nan() && t_quantile(0.9, 0.0).is_nan());
        assert!((t_quantile(0.95, 1e9) - 1.6449).abs() < 1e-4);
    }
}
