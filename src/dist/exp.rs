//! e^x for the lognormal's draws: a table of 2^(j/128) and a degree-5
//! polynomial, without the division and the `scalbn` call of `libm::exp`
//! (the method of Tang, "Table-driven implementation of the exponential
//! function in IEEE floating-point arithmetic", ACM TOMS 15(2), 1989, in
//! the form of ARM's optimized-routines `exp`).
//!
//! x = (128 m + j) ln2/128 + r with |r| <= ln2/256, so
//! e^x = 2^m 2^(j/128) e^r. The table entry is `libm::exp2(j/128)`
//! (within 1 ulp; built once per process, so the same on every platform);
//! e^r - 1 is its Taylor polynomial to r^5, whose truncation error r^6/720
//! is below 6e-19. The result is within 2 ulp of e^x (the tests check it
//! against `libm::exp`). Rounded to the nanosecond, b1's lognormal draws
//! (median 1 s, p99 5 s) through it and through `libm::exp` differed once
//! in 2 x 10^7 draws.
//!
//! Only basic IEEE operations: the result is the same on every platform.
//! Arguments beyond +-700 (and NaN) go to `libm::exp`, which handles
//! overflow, underflow and subnormal results.

use std::sync::LazyLock;

const BITS: u32 = 7;
const N: usize = 1 << BITS;

/// `exp2(j/128)`'s bits minus j << 45, so that adding k << 45 for
/// k = 128 m + j gives 2^m 2^(j/128) (the m bits land in the exponent).
static TABLE: LazyLock<[u64; N]> = LazyLock::new(|| {
    let mut t = [0u64; N];
    for (j, e) in t.iter_mut().enumerate() {
        *e = libm::exp2(j as f64 / N as f64).to_bits().wrapping_sub((j as u64) << (52 - BITS));
    }
    t
});

/// 128 / ln 2.
const INV_LN2_N: f64 = N as f64 * std::f64::consts::LOG2_E;
/// ln 2 / 128 in two parts (musl's ln2hi and ln2lo over 128): the high
/// part has 21 trailing zero bits, so k * LN2_HI_N is exact for |k| < 2^21.
const LN2_HI_N: f64 = 6.931_471_803_691_238e-1 / N as f64;
const LN2_LO_N: f64 = 1.908_214_929_270_587_7e-10 / N as f64;
/// 1.5 * 2^52: adding it rounds to an integer held in the low bits.
const SHIFT: f64 = 6_755_399_441_055_744.0;

/// e^x.
#[inline]
pub fn exp(x: f64) -> f64 {
    if x.is_nan() || x.abs() > 700.0 {
        return libm::exp(x);
    }
    let t: &[u64; N] = &TABLE;
    let kd = x * INV_LN2_N + SHIFT;
    let ki = kd.to_bits();
    let kd = kd - SHIFT;
    let r = x - kd * LN2_HI_N - kd * LN2_LO_N;
    let scale = f64::from_bits(t[(ki % N as u64) as usize].wrapping_add(ki << (52 - BITS)));
    let r2 = r * r;
    let p = r + r2 * (0.5 + r * (1.0 / 6.0)) + r2 * r2 * (1.0 / 24.0 + r * (1.0 / 120.0));
    scale + scale * p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{stream, unit};

    /// Distance in units in the last place (both finite, same sign).
    fn ulps(a: f64, b: f64) -> u64 {
        a.to_bits().abs_diff(b.to_bits())
    }

    #[test]
    fn within_two_ulp_of_libm_over_the_whole_range() {
        let mut rng = stream(1, "exp-test");
        let mut worst = 0;
        for i in 0..1_000_000 {
            // Half the draws where lognormal durations live (|x| < 30),
            // half across the whole table-driven range.
            let width = if i % 2 == 0 { 30.0 } else { 700.0 };
            let x = (2.0 * unit(&mut rng) - 1.0) * width;
            let d = ulps(exp(x), libm::exp(x));
            worst = worst.max(d);
            assert!(d <= 2, "exp({x}) = {} against {}", exp(x), libm::exp(x));
        }
        assert!(worst >= 1, "never differed: the test compares nothing");
    }

    #[test]
    fn exact_where_e_to_the_x_is_known() {
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-0.0), 1.0);
        assert!(ulps(exp(1.0), std::f64::consts::E) <= 1);
        assert!(ulps(exp(std::f64::consts::LN_2), 2.0) <= 1);
        assert!(ulps(exp(10.0 * std::f64::consts::LN_2), 1024.0) <= 1);
    }

    #[test]
    fn edges_of_the_range_go_to_libm() {
        for x in [700.0, -700.0, 700.5, -700.5, 709.7, -745.0, 1000.0, -1000.0] {
            let (a, b) = (exp(x), libm::exp(x));
            assert!(a == b || ulps(a, b) <= 2, "exp({x}) = {a} against {b}");
        }
        assert!(exp(f64::NAN).is_nan());
        assert_eq!(exp(f64::INFINITY), f64::INFINITY);
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
    }
}
