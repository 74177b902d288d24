//! Random streams: one stream per named component, derived from the
//! scenario seed and the component's name only. Adding a worker does not move
//! the producer's arrivals, and sweep points share random numbers.
//!
//! The generator is xoshiro256++ (Blackman and Vigna, "Scrambled linear
//! pseudorandom number generators", ACM TOMS 2021): 32 bytes of state and a
//! few instructions a draw. It replaced ChaCha8 in MODEL_VERSION 3.
//! ChaCha8's buffered state (about 320 bytes) sat inside every worker, and
//! with 20,000 workers the draw of a handler's duration was a cache miss on
//! its buffer index and another on its buffer (about 10% of that run; the
//! change made it 0.82x as long, reports/bench.md). A simulation needs
//! statistical quality, not unpredictability; xoshiro256++ passes BigCrush
//! and PractRand.

use rand::RngCore;

/// A component's random stream: xoshiro256++.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    s: [u64; 4],
}

impl Stream {
    /// The generator in state `s`. The all-zero state is the one fixed
    /// point of xoshiro and is replaced by a fixed non-zero one (splitmix64
    /// seeding gives it with probability 2^-256).
    pub fn from_state(s: [u64; 4]) -> Stream {
        if s == [0; 4] {
            return Stream { s: [0x9E37_79B9_7F4A_7C15, 0, 0, 0] };
        }
        Stream { s }
    }
}

impl RngCore for Stream {
    #[inline]
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    #[inline]
    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        rand::rand_core::impls::fill_bytes_via_next(self, dst);
    }
}

/// The stream of component `name` under `seed`. Stable across platforms and
/// releases: FNV-1a of the name mixed with the seed, then four splitmix64
/// outputs as the state (the seeding the generator's authors recommend).
pub fn stream(seed: u64, name: &str) -> Stream {
    let mut state = seed ^ fnv1a(name.as_bytes()).rotate_left(17);
    let mut s = [0u64; 4];
    for word in &mut s {
        *word = splitmix64(&mut state);
    }
    Stream::from_state(s)
}

/// A uniform draw in [0, 1) with 53 random bits.
#[inline]
pub fn unit(rng: &mut Stream) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// True with probability `p` (no draw when p is 0 or 1, so turning a fault
/// off does not shift the stream of a component that never used it).
#[inline]
pub fn chance(rng: &mut Stream, p: f64) -> bool {
    if p <= 0.0 {
        false
    } else if p >= 1.0 {
        true
    } else {
        unit(rng) < p
    }
}

/// A stateless hash of (seed, salt, value) to [0, 1): for per-key properties
/// (e.g. which messages are poison) that must not depend on event order.
pub fn hash_unit(seed: u64, salt: u64, value: u64) -> f64 {
    let mut state = seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ value.rotate_left(32);
    (splitmix64(&mut state) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Seed for replication `rep` of sweep point `point`: a function of these
/// three numbers only, so results do not depend on scheduling.
pub fn derive_seed(seed: u64, point: u64, rep: u64) -> u64 {
    let mut state = seed ^ point.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ rep.wrapping_mul(0x8CB9_2BA7_2F3D_8DD7);
    splitmix64(&mut state)
}

/// Seed of replication `rep` of a scenario (the same at every sweep point:
/// common random numbers). Replication 0 is the scenario's own seed, so any
/// run of a check or a sweep replays with `dupsim run --seed`.
pub fn replication_seed(seed: u64, rep: u32) -> u64 {
    if rep == 0 {
        seed
    } else {
        derive_seed(seed, 0, u64::from(rep))
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = Fnv1a::new();
    h.feed(bytes);
    h.finish()
}

/// FNV-1a 64, fed piece by piece: stream names here, the sweep cache key
/// (`sweep::scenario_hash`), the golden record (`tests/golden.rs`).
pub struct Fnv1a(u64);

impl Fnv1a {
    pub fn new() -> Fnv1a {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub fn finish(&self) -> u64 {
        self.0
    }
}

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a::new()
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_depend_on_seed_and_name_only() {
        let a1 = stream(7, "producer").next_u64();
        let a2 = stream(7, "producer").next_u64();
        let b = stream(7, "worker:w-0").next_u64();
        let c = stream(8, "producer").next_u64();
        assert_eq!(a1, a2);
        assert_ne!(a1, b);
        assert_ne!(a1, c);
    }

    /// The reference implementation's output from state (0, 0, 0, 1), as
    /// published independently of this code (xoshiro-fortran's test data,
    /// from Vigna's xoshiro256plusplus.c).
    #[test]
    fn xoshiro256plusplus_matches_the_reference_output() {
        let mut rng = Stream::from_state([0, 0, 0, 1]);
        let want: [u64; 10] = [
            0x0000_0000_0080_0000,
            0x0000_0000_0080_0011,
            0x0002_2000_0080_0011,
            0x0002_2000_4400_0020,
            0x0002_2000_4480_08A1,
            0x0110_2100_8022_08A0,
            0x0114_0022_8420_0880,
            0x0402_8966_44A6_4095,
            0x8A14_A0A2_44AC_C891,
            0x8C88_BA46_80B2_0495,
        ];
        for (i, w) in want.iter().enumerate() {
            assert_eq!(rng.next_u64(), *w, "output {}", i + 1);
        }
    }

    #[test]
    fn the_all_zero_state_is_replaced() {
        let mut rng = Stream::from_state([0; 4]);
        assert!((0..4).map(|_| rng.next_u64()).any(|x| x != 0));
    }

    #[test]
    fn unit_draws_are_in_range_and_roughly_uniform() {
        let mut rng = stream(1, "t");
        let n = 100_000;
        let mut sum = 0.0;
        for _ in 0..n {
            let u = unit(&mut rng);
            assert!((0.0..1.0).contains(&u));
            sum += u;
        }
        let mean = sum / n as f64;
        // Standard error of the mean of U(0,1) is 0.2887/sqrt(n) = 0.0009.
        assert!((mean - 0.5).abs() < 0.005, "mean {mean}");
    }
}
