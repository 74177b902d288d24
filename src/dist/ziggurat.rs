//! Exp(1) and N(0, 1) draws by the ziggurat method (Marsaglia and Tsang,
//! "The Ziggurat Method for Generating Random Variables", J. Stat. Softw.
//! 5(8), 2000), with 256 layers. The layer is chosen by the low 8 bits of a
//! 64-bit draw and the position in it by the high 53 (52 and a sign bit for
//! the normal), so index and position are independent bits (Doornik, "An
//! Improved Ziggurat Method to Generate Normal Random Samples", 2005).
//!
//! About 99% of draws take one 64-bit word, a multiply and a compare; the
//! rest test a wedge with one more word and an `exp`, or draw from the tail
//! beyond the base layer (exactly, by Marsaglia's tail method for the normal
//! and by memorylessness for the exponential). The tables are computed once
//! per process with `libm`, so every platform draws the same numbers.
//!
//! Every draw is exact in distribution (the method is a rejection sampler,
//! not an approximation); `tests` checks it against the closed-form CDFs.

use crate::rng::{unit, Stream};
use rand::RngCore;
use std::sync::LazyLock;

/// Layers of each ziggurat.
const LAYERS: usize = 256;

/// Right edge of the normal's base layer, and the area of each layer
/// (Marsaglia and Tsang's constants for 256 layers, f(x) = exp(-x^2/2)).
const NORM_R: f64 = 3.654152885361009;
const NORM_V: f64 = 4.928_673_233_99e-3;
/// The same for the exponential, f(x) = exp(-x).
const EXP_R: f64 = 7.69711747013105;
const EXP_V: f64 = 0.003949659822581557;

/// One ziggurat: `x[i]` is the right edge of layer i (decreasing; `x[0]` is
/// the width a rectangle of the base layer's area would have, `x[256]` is
/// 0) and `f[i]` the density at `x[i]`, unnormalised (increasing to 1).
struct Table {
    x: [f64; LAYERS + 1],
    f: [f64; LAYERS + 1],
}

impl Table {
    /// Layers of area `v` under `pdf` from edge `r` up, `inv` being the
    /// inverse of `pdf` on x >= 0.
    fn build(r: f64, v: f64, pdf: fn(f64) -> f64, inv: fn(f64) -> f64) -> Table {
        let mut x = [0.0; LAYERS + 1];
        x[0] = v / pdf(r);
        x[1] = r;
        for i in 2..LAYERS {
            x[i] = inv(pdf(x[i - 1]) + v / x[i - 1]);
        }
        x[LAYERS] = 0.0;
        let mut f = [0.0; LAYERS + 1];
        for i in 0..=LAYERS {
            f[i] = pdf(x[i]);
        }
        Table { x, f }
    }
}

fn norm_pdf(x: f64) -> f64 {
    libm::exp(-0.5 * x * x)
}

fn norm_inv(y: f64) -> f64 {
    libm::sqrt(-2.0 * libm::log(y))
}

fn exp_pdf(x: f64) -> f64 {
    libm::exp(-x)
}

fn exp_inv(y: f64) -> f64 {
    -libm::log(y)
}

static NORM: LazyLock<Table> = LazyLock::new(|| Table::build(NORM_R, NORM_V, norm_pdf, norm_inv));
static EXP: LazyLock<Table> = LazyLock::new(|| Table::build(EXP_R, EXP_V, exp_pdf, exp_inv));

/// 2^-53: a 53-bit integer times this is in [0, 1).
const TO_UNIT: f64 = 1.0 / (1u64 << 53) as f64;

/// An Exp(1) draw.
#[inline]
pub fn exp1(rng: &mut Stream) -> f64 {
    let t: &Table = &EXP;
    loop {
        let bits = rng.next_u64();
        let i = (bits & 0xff) as usize;
        let x = (bits >> 11) as f64 * TO_UNIT * t.x[i];
        if x < t.x[i + 1] {
            return x;
        }
        if let Some(x) = exp_slow(rng, t, i, x) {
            return x;
        }
    }
}

/// A draw outside layer `i`'s rectangle: the tail beyond the base layer, or
/// the wedge test (None: rejected, draw again).
#[cold]
fn exp_slow(rng: &mut Stream, t: &Table, i: usize, x: f64) -> Option<f64> {
    if i == 0 {
        // Exp(1) beyond R is R + Exp(1).
        return Some(EXP_R - libm::log(1.0 - unit(rng)));
    }
    let y = t.f[i + 1] + (t.f[i] - t.f[i + 1]) * unit(rng);
    (y < exp_pdf(x)).then_some(x)
}

/// A standard normal draw.
#[inline]
pub fn standard_normal(rng: &mut Stream) -> f64 {
    let t: &Table = &NORM;
    loop {
        let bits = rng.next_u64();
        let i = (bits & 0xff) as usize;
        let negative = bits & 0x100 != 0;
        let x = (bits >> 11) as f64 * TO_UNIT * t.x[i];
        let signed = if negative { -x } else { x };
        if x < t.x[i + 1] {
            return signed;
        }
        if let Some(x) = normal_slow(rng, t, i, x) {
            return if negative { -x } else { x };
        }
    }
}

/// The normal's slow path for |x| = `x` outside layer `i`'s rectangle
/// (None: rejected, draw again).
#[cold]
fn normal_slow(rng: &mut Stream, t: &Table, i: usize, x: f64) -> Option<f64> {
    if i == 0 {
        // Marsaglia's tail method: x = -ln(U1)/R, y = -ln(U2), accept when
        // 2y > x^2; R + x is then distributed as |Z| given |Z| > R.
        loop {
            let x = -libm::log(1.0 - unit(rng)) / NORM_R;
            let y = -libm::log(1.0 - unit(rng));
            if y + y > x * x {
                return Some(NORM_R + x);
            }
        }
    }
    let y = t.f[i + 1] + (t.f[i] - t.f[i + 1]) * unit(rng);
    (y < norm_pdf(x)).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::normal_sf;
    use crate::rng::stream;

    /// Published table entries (the ZIGNOR tables of Doornik 2005 as used
    /// by the rand crate, and Marsaglia and Tsang's exponential), which
    /// were computed independently of this code.
    #[test]
    fn tables_match_published_entries() {
        let n = &*NORM;
        for (i, want) in
            [(0, 3.91075795953709), (1, 3.654_152_885_361_009), (2, 3.449_278_298_560_964), (3, 3.320_244_733_839_166)]
        {
            assert!((n.x[i] - want).abs() < 1e-12, "normal x[{i}] = {}", n.x[i]);
        }
        for (i, want) in [(1, 0.001_260_285_930_498_598), (2, 0.002_609_072_746_106_363)] {
            assert!((n.f[i] - want).abs() < 1e-15, "normal f[{i}] = {}", n.f[i]);
        }
        let e = &*EXP;
        for (i, want) in [(0, 8.69711747013105), (1, 7.69711747013105)] {
            assert!((e.x[i] - want).abs() < 1e-12, "exp x[{i}] = {}", e.x[i]);
        }
        for (i, want) in [(1, 0.000_454_134_353_841_496_75), (2, 0.000_967_269_282_327_174_5)] {
            assert!((e.f[i] - want).abs() < 1e-15, "exp f[{i}] = {}", e.f[i]);
        }
    }

    /// Every layer has the same area: the rectangle x[i] * (f[i+1] - f[i])
    /// for i >= 1, and x[1] * f[1] plus the tail beyond x[1] for the base
    /// (the normal's tail to the accuracy of `normal_sf`: 1.5e-7 in erfc,
    /// 1.9e-7 here after scaling by sqrt(2 pi) / 2).
    #[test]
    fn layers_have_equal_area_and_the_top_reaches_zero() {
        for (t, v, tail, tol) in [
            (&*NORM, NORM_V, normal_sf(NORM_R) * (2.0 * std::f64::consts::PI).sqrt(), 1.9e-7),
            (&*EXP, EXP_V, libm::exp(-EXP_R), 1e-15),
        ] {
            let base = t.x[1] * t.f[1] + tail;
            assert!((base - v).abs() < tol, "base layer {base}");
            assert!((t.x[0] * t.f[1] - v).abs() < 1e-15);
            for i in 1..LAYERS - 1 {
                let area = t.x[i] * (t.f[i + 1] - t.f[i]);
                assert!((area - v).abs() < 1e-12, "layer {i}: {area}");
                assert!(t.x[i + 1] < t.x[i] && t.x[i + 1] > 0.0, "layer {i} edges");
            }
            // The last layer's rectangle is what is left up to f = 1: its
            // area is within rounding of v when the constants are right.
            assert!((t.x[LAYERS - 1] * (1.0 - t.f[LAYERS - 1]) - v).abs() < 1e-6);
            assert_eq!(t.x[LAYERS], 0.0);
            assert_eq!(t.f[LAYERS], 1.0);
        }
    }

    /// Kolmogorov-Smirnov distance of `xs` (sorted) from `cdf`.
    fn ks(xs: &[f64], cdf: impl Fn(f64) -> f64) -> f64 {
        let n = xs.len() as f64;
        xs.iter()
            .enumerate()
            .map(|(k, &x)| {
                let c = cdf(x);
                (c - k as f64 / n).abs().max(((k + 1) as f64 / n - c).abs())
            })
            .fold(0.0, f64::max)
    }

    fn sorted(n: usize, mut draw: impl FnMut() -> f64) -> Vec<f64> {
        let mut xs: Vec<f64> = (0..n).map(|_| draw()).collect();
        xs.sort_by(f64::total_cmp);
        xs
    }

    /// The critical KS distance at level 1e-4 is about 2.23 / sqrt(n).
    /// A sampler that accepted every wedge (about 1% of the mass moved to
    /// the wrong place) is off by more than 0.003: several times the bound.
    #[test]
    fn exp1_follows_the_exponential_cdf() {
        let n = 1_000_000;
        let mut rng = stream(3, "zig-exp");
        let xs = sorted(n, || exp1(&mut rng));
        assert!(xs[0] >= 0.0);
        let d = ks(&xs, |x| 1.0 - libm::exp(-x));
        assert!(d < 2.23 / (n as f64).sqrt(), "KS distance {d}");
        let mean = xs.iter().sum::<f64>() / n as f64;
        assert!((mean - 1.0).abs() < 0.005, "mean {mean}");
    }

    #[test]
    fn standard_normal_follows_the_normal_cdf() {
        let n = 1_000_000;
        let mut rng = stream(4, "zig-normal");
        let xs = sorted(n, || standard_normal(&mut rng));
        let d = ks(&xs, |x| 1.0 - normal_sf(x));
        // normal_sf is accurate to 1.5e-7, far below the bound.
        assert!(d < 2.23 / (n as f64).sqrt(), "KS distance {d}");
        let negative = xs.iter().filter(|x| **x < 0.0).count() as f64 / n as f64;
        assert!((negative - 0.5).abs() < 0.002, "P(Z < 0) {negative}");
        // The wedges matter most, relative to the density, in the outer
        // layers: a sampler that accepted every wedge puts 6 to 8 standard
        // deviations too many draws beyond 2.5 and 3 (KS alone misses it).
        for a in [1.0, 2.0, 2.5, 3.0] {
            let count = xs.iter().filter(|x| x.abs() > a).count() as f64;
            let mean = 2.0 * normal_sf(a) * n as f64;
            assert!((count - mean).abs() < 5.0 * mean.sqrt(), "|Z| > {a}: {count} draws, {mean} expected");
        }
    }

    /// The tails beyond the base layer come from the slow path alone: their
    /// mass and shape must match the closed forms too. Counts are Poisson:
    /// the bounds are 5 standard deviations.
    #[test]
    fn tails_beyond_the_base_layer_have_the_right_mass() {
        let n = 4_000_000;
        let mut rng = stream(5, "zig-tail");
        let (mut beyond_r, mut beyond_9) = (0.0, 0.0);
        for _ in 0..n {
            let x = exp1(&mut rng);
            beyond_r += f64::from(u8::from(x > EXP_R));
            beyond_9 += f64::from(u8::from(x > 9.0));
        }
        for (count, p) in [(beyond_r, libm::exp(-EXP_R)), (beyond_9, libm::exp(-9.0))] {
            let mean = p * n as f64;
            assert!((count - mean).abs() < 5.0 * mean.sqrt(), "{count} draws, {mean} expected");
        }
        let (mut upper, mut lower, mut beyond_4) = (0.0, 0.0, 0.0);
        for _ in 0..n {
            let z = standard_normal(&mut rng);
            upper += f64::from(u8::from(z > NORM_R));
            lower += f64::from(u8::from(z < -NORM_R));
            beyond_4 += f64::from(u8::from(z.abs() > 4.0));
        }
        for (count, p) in [(upper, normal_sf(NORM_R)), (lower, normal_sf(NORM_R)), (beyond_4, 2.0 * normal_sf(4.0))] {
            let mean = p * n as f64;
            assert!((count - mean).abs() < 5.0 * mean.sqrt(), "{count} draws, {mean} expected");
        }
    }
}
