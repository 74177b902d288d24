//! Durations as written in scenario files ("30s", "250ms", "2m", "4d", "1.5s",
//! "1h30m"), parsed exactly into integer nanoseconds.

/// Nanoseconds of simulated time.
pub type Nanos = u64;

pub const NS_PER_S: u64 = 1_000_000_000;

/// The longest duration a scenario may write, and the cap of every sampled
/// latency: 3650 days. Sums of a few such values cannot overflow a u64.
pub const MAX_NS: Nanos = 3650 * 86_400 * NS_PER_S;

const UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", NS_PER_S),
    ("m", 60 * NS_PER_S),
    ("h", 3_600 * NS_PER_S),
    ("d", 86_400 * NS_PER_S),
];

/// Accepted duration units, for error messages.
pub const UNITS_HELP: &str =
    "a duration such as \"250ms\", \"30s\", \"2m\", \"1h30m\" or \"4d\" (units ns, us, ms, s, m, h, d)";

/// Parse a duration into nanoseconds. Decimals are exact ("1.5s" is
/// 1_500_000_000 ns); a fraction finer than 1 ns is an error. A compound
/// duration ("1h30m") names its units from the largest down, each once, and
/// only its last part may have a fraction: "30s30s", "30m1h" and "1.5h30m"
/// are errors, not sums.
pub fn parse(text: &str) -> Result<Nanos, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err(format!("empty duration; expected {UNITS_HELP}"));
    }
    if s.starts_with('-') {
        return Err(format!("negative duration \"{text}\": durations cannot be negative"));
    }
    let mut rest = s;
    let mut total: u64 = 0;
    // The previous part's unit size and whether it had a fraction.
    let mut previous: Option<(u64, bool)> = None;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let unit_len = rest[num_len..].find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len() - num_len);
        let (num, unit) = (&rest[..num_len], rest[num_len..num_len + unit_len].trim());
        if num.is_empty() {
            return Err(format!("bad duration \"{text}\"; expected {UNITS_HELP}"));
        }
        let Some(&(_, scale)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            return Err(format!("bad duration \"{text}\": unit \"{unit}\" unknown; expected {UNITS_HELP}"));
        };
        match previous {
            Some((_, true)) => {
                return Err(format!(
                    "bad duration \"{text}\": only the last part of a compound duration may have a decimal point (write \"1h30m\", not \"1.5h30m\")"
                ))
            }
            Some((prev, false)) if prev <= scale => {
                return Err(format!(
                    "bad duration \"{text}\": write one number per unit, largest unit first, each unit once (e.g. \"1h30m\", \"90s\")"
                ))
            }
            _ => previous = Some((scale, num.contains('.'))),
        }
        let part = scaled(num, scale).ok_or_else(|| format!("bad duration \"{text}\"; expected {UNITS_HELP}"))?;
        total = total
            .checked_add(part)
            .filter(|t| *t <= MAX_NS)
            .ok_or_else(|| format!("duration \"{text}\" is too large (at most 3650d)"))?;
        rest = rest[num_len + unit_len..].trim_start();
    }
    Ok(total)
}

/// `num` (decimal digits with an optional fraction) times `scale`, exactly.
fn scaled(num: &str, scale: u64) -> Option<u64> {
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if frac.contains('.') || (int.is_empty() && frac.is_empty()) {
        return None;
    }
    let int: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut value = int.checked_mul(scale)?;
    let mut unit = scale;
    for digit in frac.bytes() {
        if !unit.is_multiple_of(10) {
            return None; // finer than a nanosecond
        }
        unit /= 10;
        value = value.checked_add(u64::from(digit - b'0') * unit)?;
    }
    Some(value)
}

/// Format nanoseconds as seconds with up to nine decimals, no trailing zeros:
/// `30`, `30.5`, `0.000000001`.
pub fn format_seconds(ns: Nanos) -> String {
    let (s, frac) = (ns / NS_PER_S, ns % NS_PER_S);
    if frac == 0 {
        return s.to_string();
    }
    let digits = format!("{frac:09}");
    format!("{s}.{}", digits.trim_end_matches('0'))
}

/// Format nanoseconds as a short human duration ("1h30m", "250ms").
pub fn format_human(ns: Nanos) -> String {
    if ns == 0 {
        return "0s".into();
    }
    if !ns.is_multiple_of(NS_PER_S) {
        return format!("{}s", format_seconds(ns));
    }
    let mut s = ns / NS_PER_S;
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if s >= size {
            out.push_str(&format!("{}{unit}", s / size));
            s %= size;
        }
    }
    out
}

/// Seconds as f64, for reports only (never for ordering).
pub fn as_secs_f64(ns: Nanos) -> f64 {
    ns as f64 / NS_PER_S as f64
}

/// Seconds (f64, from a distribution) to nanoseconds, rounded, capped at [`MAX_NS`].
pub fn from_secs_f64(s: f64) -> Nanos {
    if s.is_nan() || s <= 0.0 {
        return 0;
    }
    let x = s * NS_PER_S as f64;
    if x >= MAX_NS as f64 {
        return MAX_NS;
    }
    round_positive(x)
}

/// `x.round() as u64` for 0 < x < 2^63, without the library call that
/// `f64::round` is on baseline x86-64 (2% of a benchmark run): truncate,
/// then add one if the fraction is at least a half (round half away from
/// zero, as `round`). `x - trunc(x)` is exact in binary floating point, so the
/// result is identical for every input. The conversions go through i64
/// (x < 2^63): one instruction each way on x86-64, where u64's take a
/// fix-up sequence of several.
#[inline]
fn round_positive(x: f64) -> u64 {
    debug_assert!(x > 0.0 && x < 9_223_372_036_854_775_808.0);
    let t = x as i64;
    (t + i64::from(x - t as f64 >= 0.5)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_positive_is_round() {
        let mut edge = vec![0.5, 1.5, 2.5, 0.49999999999999994, 4503599627370495.5, 4503599627370497.0, 1e-300];
        edge.extend([1.0f64, 2.0, 1e9, 1e15, 9.2e18].iter().flat_map(|&v| [v, v.next_up(), v.next_down()]));
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Magnitudes from 1e-3 to 1e18, and exact halves.
            let m = (state >> 11) as f64 / (1u64 << 53) as f64;
            let x = 10f64.powf(m * 21.0 - 3.0);
            edge.push(x);
            edge.push((x as u64) as f64 + 0.5);
        }
        for x in edge.into_iter().filter(|&x| x > 0.0 && x < MAX_NS as f64) {
            assert_eq!(round_positive(x), x.round() as u64, "x = {x:e}");
        }
    }

    #[test]
    fn parses_units_and_decimals_exactly() {
        assert_eq!(parse("30s"), Ok(30 * NS_PER_S));
        assert_eq!(parse("250ms"), Ok(250_000_000));
        assert_eq!(parse("2m"), Ok(120 * NS_PER_S));
        assert_eq!(parse("4d"), Ok(4 * 86_400 * NS_PER_S));
        assert_eq!(parse("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse("1h30m"), Ok(5_400 * NS_PER_S));
        assert_eq!(parse("1h 30m"), Ok(5_400 * NS_PER_S));
        assert_eq!(parse("0.000000001s"), Ok(1));
        assert_eq!(parse("0s"), Ok(0));
    }

    #[test]
    fn rejects_bad_durations() {
        for bad in ["", "-1s", "30", "s", "30x", "1.2.3s", "0.5ns", "99999999999999999999d", "1..s", "3651d"] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(parse("-5s").unwrap_err().contains("negative"));
    }

    #[test]
    fn compound_durations_name_each_unit_once_largest_first() {
        // Issue 15: "30s30s" was read as 60 s. Every repeated or ascending
        // unit, and a fraction before another part, is an error.
        for bad in ["30s30s", "1m1m", "30m1h", "1s1m", "1.5h30m", "1h1h30m", "0.5m10s", "250ms1s"] {
            let e = parse(bad).expect_err(bad);
            assert!(e.contains("largest unit first") || e.contains("last part"), "{bad}: {e}");
        }
        assert_eq!(parse("1d2h3m4s5ms6us7ns"), Ok(93_784_005_006_007));
        assert_eq!(parse("1h30.5m"), Ok(5_430 * NS_PER_S));
        // Every duration the program itself writes reads back.
        for ns in [1, 999, NS_PER_S, 5_400 * NS_PER_S, 93_784 * NS_PER_S, MAX_NS, 1_500_000_000] {
            assert_eq!(parse(&format_human(ns)), Ok(ns), "{}", format_human(ns));
        }
    }

    #[test]
    fn formats_seconds_exactly() {
        assert_eq!(format_seconds(30 * NS_PER_S), "30");
        assert_eq!(format_seconds(30 * NS_PER_S + 500_000_000), "30.5");
        assert_eq!(format_seconds(1), "0.000000001");
        assert_eq!(format_human(5_400 * NS_PER_S), "1h30m");
        assert_eq!(format_human(250_000_000), "0.25s");
    }
}
