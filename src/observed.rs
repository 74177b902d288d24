//! Observed durations read from files: the processing times a user measured,
//! turned into the sorted sample of an empirical distribution
//! (`dist::Dist::Empirical`). Used by `[handler] duration = { kind =
//! "empirical", file }` in scenario files (CSV, seconds) and by `dupsim
//! advise --durations FILE` (every format below).
//!
//! Formats, detected from the first non-blank line:
//! - **CSV** (one value per line is a CSV with one column): the column named
//!   by `column`, or the first. The first row is a header when its first
//!   field is not a number; a `column` needs that header.
//! - **JSON lines** (the first non-blank line starts with `{`): one object per
//!   line, with either a duration field (`column`, or the first of
//!   [`DURATION_FIELDS`] present) or a start and an end timestamp (the first
//!   pair of [`TIMESTAMP_PAIRS`] present). Timestamps are ISO 8601 strings
//!   (`2024-05-01T12:00:00.250Z`, offsets `+02:00`, no zone read as UTC) or
//!   epoch numbers, whose unit follows from their size (below 1e11:
//!   seconds; 1e11..1e14: milliseconds; 1e14..1e17: microseconds; above:
//!   nanoseconds), so a worker log's `start`/`end` need no flag.
//!
//! Units of duration values: `Unit::Seconds` or `Unit::Millis` when given;
//! otherwise detected from the column or field name (`*_ms`, `*Ms`,
//! `*millis*`, `@duration` (Lambda's REPORT line, in ms): milliseconds;
//! anything else: seconds). A value that cannot be read is an error naming
//! `file:line`; blank lines (and lines of spaces) are skipped.

use crate::duration::{from_secs_f64, Nanos, NS_PER_S};
use crate::error::{InputError, Location};
use serde_json::Value;
use std::path::Path;

/// Duration fields looked for in a JSON object, in this order.
pub const DURATION_FIELDS: &[&str] =
    &["duration_ms", "durationMs", "@duration", "duration_s", "duration", "elapsed_ms", "elapsed_s", "elapsed"];

/// (start, end) timestamp field pairs looked for in a JSON object, in this order.
pub const TIMESTAMP_PAIRS: &[(&str, &str)] = &[
    ("start", "end"),
    ("start_time", "end_time"),
    ("startTime", "endTime"),
    ("started_at", "finished_at"),
    ("started_at", "ended_at"),
    ("begin", "end"),
];

/// The unit of the duration values in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Millis,
}

impl Unit {
    /// `s` or `ms` (the `--unit` flag's values).
    pub fn parse(text: &str) -> Option<Unit> {
        match text {
            "s" => Some(Unit::Seconds),
            "ms" => Some(Unit::Millis),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Unit::Seconds => "seconds",
            Unit::Millis => "milliseconds",
        }
    }

    fn to_ns(self, v: f64) -> Nanos {
        match self {
            Unit::Seconds => from_secs_f64(v),
            Unit::Millis => from_secs_f64(v / 1e3),
        }
    }

    /// The unit a column or field name implies, if any.
    pub fn from_name(name: &str) -> Option<Unit> {
        let lower = name.to_ascii_lowercase();
        if name == "@duration" || lower.ends_with("_ms") || name.ends_with("Ms") || lower.contains("millis") {
            Some(Unit::Millis)
        } else if lower.ends_with("_s") || lower.ends_with("_sec") || lower.contains("seconds") {
            Some(Unit::Seconds)
        } else {
            None
        }
    }
}

/// How to read a file.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// A CSV column or a JSON field holding durations.
    pub column: Option<String>,
    /// None: detected (see the module documentation).
    pub unit: Option<Unit>,
}

/// Durations read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// Sorted, in nanoseconds; never empty.
    pub sorted: Vec<Nanos>,
    /// "CSV column `x`", "JSON lines, start/end", ...
    pub source: String,
    /// "seconds (the default)", "milliseconds (from the column name)", ...
    pub unit: String,
    /// Advice that is not an error (e.g. values that look like milliseconds).
    pub warnings: Vec<String>,
}

fn at_line(file: &Path, line: u64, message: impl Into<String>) -> InputError {
    InputError::new(Location::None, format!("{}:{line}: {}", file.display(), message.into()))
}

/// The largest durations file read (a device such as `/dev/zero` or a huge
/// file is an error, not an endless read).
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// The bytes of `file`, at most [`MAX_FILE_BYTES`].
fn read_bounded(file: &Path) -> Result<Vec<u8>, InputError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| InputError::path(file, format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        let limit = crate::limits::format_size(MAX_FILE_BYTES);
        return Err(InputError::path(
            file,
            format!("is larger than {limit}; a durations file is read up to that size"),
        ));
    }
    Ok(bytes)
}

/// Read a file of durations in any supported format.
pub fn read(file: &Path, opts: &ReadOptions) -> Result<Observed, InputError> {
    let text = String::from_utf8(read_bounded(file)?)
        .map_err(|_| InputError::path(file, "cannot read: the file is not UTF-8 text"))?;
    let first = text.lines().map(str::trim).find(|l| !l.is_empty());
    let mut observed = match first {
        None => return Err(InputError::path(file, "no durations found (the file is empty)")),
        Some(l) if l.starts_with('{') => read_json_lines(file, &text, opts)?,
        Some(_) => read_csv(file, text.as_bytes(), opts.column.as_deref(), opts.unit)?,
    };
    observed.sorted.sort_unstable();
    if let Some(w) = looks_like_millis(&observed, opts.unit.is_some()) {
        observed.warnings.push(w);
    }
    Ok(observed)
}

/// Observed latencies from a CSV column (default: the first), in `unit`
/// (None: from the column name, else seconds), sorted.
pub fn read_csv_column(file: &Path, column: Option<&str>, unit: Option<Unit>) -> Result<Vec<Nanos>, InputError> {
    let bytes = read_bounded(file)?;
    let mut observed = read_csv(file, &bytes, column, unit)?;
    observed.sorted.sort_unstable();
    Ok(observed.sorted)
}

fn read_csv(file: &Path, bytes: &[u8], column: Option<&str>, unit: Option<Unit>) -> Result<Observed, InputError> {
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).trim(csv::Trim::All).flexible(true).from_reader(bytes);
    let mut index = 0;
    let mut header: Option<String> = None;
    let mut first_row = true;
    let mut values = Vec::new();
    let mut unit_used = unit.unwrap_or(Unit::Seconds);
    let mut unit_note = if unit.is_some() { "as given" } else { "the default" };
    for (row, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(row as u64 + 1, |p| p.line());
            at_line(file, line, format!("not valid CSV: {e}"))
        })?;
        let line = record.position().map_or(row as u64 + 1, |p| line_of(bytes, p.byte()));
        if record.iter().all(str::is_empty) {
            continue; // a line of spaces
        }
        let first = std::mem::replace(&mut first_row, false);
        if first && record.get(0).is_some_and(|f| f.parse::<f64>().is_err()) {
            if let Some(c) = column {
                index = record.iter().position(|h| h == c).ok_or_else(|| {
                    let names: Vec<&str> = record.iter().collect();
                    at_line(file, line, format!("no column `{c}`; the header has [{}]", names.join(", ")))
                })?;
            }
            let name = record.get(index).unwrap_or("").to_string();
            if let (None, Some(u)) = (unit, Unit::from_name(&name)) {
                unit_used = u;
                unit_note = "from the column name";
            }
            header = Some(name);
            continue;
        }
        if let (true, Some(c)) = (first, column) {
            return Err(at_line(
                file,
                line,
                format!("no header row, so there is no column `{c}` (the first row is numbers)"),
            ));
        }
        let field = record.get(index).unwrap_or("");
        values.push(duration_value(field, unit_used).map_err(|m| at_line(file, line, m))?);
    }
    if values.is_empty() {
        return Err(InputError::path(file, "no durations found"));
    }
    let source = match header {
        Some(h) => format!("CSV column `{h}`"),
        None if index == 0 => "one value per line (CSV, first column)".to_string(),
        None => format!("CSV column {}", index + 1),
    };
    Ok(Observed { sorted: values, source, unit: format!("{} ({unit_note})", unit_used.name()), warnings: Vec::new() })
}

/// The 1-based line of the record starting at byte `offset` (csv counts a
/// record after a blank line from the blank line; skip it).
fn line_of(bytes: &[u8], offset: u64) -> u64 {
    let mut at = (offset as usize).min(bytes.len());
    while at < bytes.len() && (bytes[at] == b'\n' || bytes[at] == b'\r') {
        at += 1;
    }
    1 + bytes[..at].iter().filter(|&&b| b == b'\n').count() as u64
}

/// A duration written as a number of `unit`.
fn duration_value(field: &str, unit: Unit) -> Result<Nanos, String> {
    let v: f64 = field.trim().parse().map_err(|_| format!("`{field}` is not a number of {}", unit.name()))?;
    if !(v.is_finite() && v >= 0.0) {
        return Err(format!("duration {v} must be a non-negative number of {}", unit.name()));
    }
    Ok(unit.to_ns(v))
}

/// What a JSON object's duration is read from.
#[derive(Debug, Clone, PartialEq)]
enum JsonShape {
    Field(String, Unit),
    Span(&'static str, &'static str),
}

fn json_shape(obj: &serde_json::Map<String, Value>, opts: &ReadOptions) -> Option<(JsonShape, &'static str)> {
    let unit_of = |name: &str| match (opts.unit, Unit::from_name(name)) {
        (Some(u), _) => (u, "as given"),
        (None, Some(u)) => (u, "from the field name"),
        (None, None) => (Unit::Seconds, "the default"),
    };
    if let Some(c) = &opts.column {
        let (u, note) = unit_of(c);
        return obj.contains_key(c).then(|| (JsonShape::Field(c.clone(), u), note));
    }
    if let Some(f) = DURATION_FIELDS.iter().find(|f| obj.contains_key(**f)) {
        let (u, note) = unit_of(f);
        return Some((JsonShape::Field((*f).to_string(), u), note));
    }
    let pair = TIMESTAMP_PAIRS.iter().find(|(s, e)| obj.contains_key(*s) && obj.contains_key(*e))?;
    Some((JsonShape::Span(pair.0, pair.1), "end minus start"))
}

fn read_json_lines(file: &Path, text: &str, opts: &ReadOptions) -> Result<Observed, InputError> {
    let mut shape: Option<(JsonShape, &'static str)> = None;
    let mut values = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i as u64 + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let value: Value =
            serde_json::from_str(raw).map_err(|e| at_line(file, line, format!("not a JSON object: {e}")))?;
        let Value::Object(obj) = value else {
            return Err(at_line(file, line, "expected one JSON object per line"));
        };
        if shape.is_none() {
            shape = Some(json_shape(&obj, opts).ok_or_else(|| {
                let wanted = match &opts.column {
                    Some(c) => format!("a field `{c}`"),
                    None => format!(
                        "a duration field ({}) or start/end timestamps ({})",
                        DURATION_FIELDS.join(", "),
                        TIMESTAMP_PAIRS.iter().map(|(s, e)| format!("{s}/{e}")).collect::<Vec<_>>().join(", ")
                    ),
                };
                at_line(file, line, format!("no duration in this object; expected {wanted}"))
            })?);
        }
        let (s, _) = shape.as_ref().expect("set above");
        values.push(json_duration(&obj, s).map_err(|m| at_line(file, line, m))?);
    }
    let Some((shape, note)) = shape else {
        return Err(InputError::path(file, "no durations found"));
    };
    let (source, unit) = match &shape {
        JsonShape::Field(f, u) => (format!("JSON lines, field `{f}`"), format!("{} ({note})", u.name())),
        JsonShape::Span(s, e) => (format!("JSON lines, `{e}` - `{s}`"), "seconds (end minus start)".to_string()),
    };
    Ok(Observed { sorted: values, source, unit, warnings: Vec::new() })
}

fn json_duration(obj: &serde_json::Map<String, Value>, shape: &JsonShape) -> Result<Nanos, String> {
    match shape {
        JsonShape::Field(f, unit) => match obj.get(f) {
            Some(Value::Number(n)) => duration_value(&n.to_string(), *unit),
            Some(Value::String(s)) => duration_value(s, *unit),
            Some(other) => Err(format!("`{f}` is {other}, not a number of {}", unit.name())),
            None => Err(format!("no field `{f}` (earlier lines have it)")),
        },
        JsonShape::Span(s, e) => {
            let get = |k: &str| {
                let v = obj.get(k).ok_or_else(|| format!("no field `{k}` (earlier lines have it)"))?;
                timestamp_ns(v).map_err(|m| format!("`{k}`: {m}"))
            };
            let (start, end) = (get(s)?, get(e)?);
            if end < start {
                return Err(format!("`{e}` is before `{s}`"));
            }
            u64::try_from(end - start).map_err(|_| "the span is too long".to_string())
        }
    }
}

/// A timestamp as nanoseconds since the Unix epoch: an ISO 8601 string or an
/// epoch number (unit by magnitude, see the module documentation).
pub fn timestamp_ns(v: &Value) -> Result<i128, String> {
    match v {
        Value::Number(n) => {
            // Integers exactly (epoch nanoseconds pass 2^53); fractions as f64.
            let scale = |x: f64| -> i128 {
                if x < 1e11 {
                    1_000_000_000
                } else if x < 1e14 {
                    1_000_000
                } else if x < 1e17 {
                    1_000
                } else {
                    1
                }
            };
            if let Some(u) = n.as_u64() {
                return Ok(i128::from(u) * scale(u as f64));
            }
            let x = n.as_f64().filter(|x| x.is_finite() && *x >= 0.0).ok_or("not a non-negative epoch number")?;
            Ok((x * scale(x) as f64).round() as i128)
        }
        Value::String(s) => match s.trim().parse::<f64>() {
            Ok(_) => timestamp_ns(&serde_json::from_str(s.trim()).map_err(|e| e.to_string())?),
            Err(_) => iso8601_ns(s.trim()),
        },
        _ => Err("expected an ISO 8601 string or an epoch number".into()),
    }
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.fff...][Z|+HH:MM|-HH:MM|+HHMM]` to epoch
/// nanoseconds (no zone: UTC).
pub fn iso8601_ns(s: &str) -> Result<i128, String> {
    let bad = || format!("`{s}` is not an ISO 8601 timestamp such as 2024-05-01T12:00:00.250Z");
    let b = s.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| {
        s.get(r).filter(|t| t.bytes().all(|c| c.is_ascii_digit())).and_then(|t| t.parse::<i64>().ok())
    };
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(sec)) =
        (num(0..4), num(5..7), num(8..10), num(11..13), num(14..16), num(17..19))
    else {
        return Err(bad());
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return Err(bad());
    }
    let mut rest = &s[19..];
    let mut frac_ns: i128 = 0;
    if let Some(r) = rest.strip_prefix('.').or_else(|| rest.strip_prefix(',')) {
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let kept = &r[..digits.min(9)];
        frac_ns = kept.parse::<i128>().map_err(|_| bad())? * 10i128.pow(9 - kept.len() as u32);
        rest = &r[digits..];
    }
    let offset_s: i64 = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return Err(bad()),
            };
            let hm = rest[1..].replace(':', "");
            if hm.len() != 4 || !hm.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            sign * (hm[..2].parse::<i64>().map_err(|_| bad())? * 3600 + hm[2..].parse::<i64>().map_err(|_| bad())? * 60)
        }
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_s;
    Ok(i128::from(secs) * i128::from(NS_PER_S) + frac_ns)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A warning when seconds were assumed but the values look like
/// milliseconds (all whole numbers, median of 1000 or more).
fn looks_like_millis(o: &Observed, unit_given: bool) -> Option<String> {
    if unit_given || !o.unit.starts_with("seconds (the default)") {
        return None;
    }
    let median = o.sorted[o.sorted.len() / 2];
    let whole = o.sorted.iter().all(|v| v % NS_PER_S == 0);
    (whole && median >= 1000 * NS_PER_S).then(|| {
        format!(
            "the durations were read as seconds (median {} s) but look like milliseconds; pass --unit ms if they are",
            median / NS_PER_S
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_and_epoch_timestamps() {
        assert_eq!(iso8601_ns("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(iso8601_ns("1970-01-02T00:00:01.5Z").unwrap(), (86_401 * NS_PER_S + NS_PER_S / 2) as i128);
        // 2000-03-01 is day 11017 since the epoch (a leap-year February before it).
        assert_eq!(iso8601_ns("2000-03-01 00:00:00").unwrap(), 11_017 * 86_400 * NS_PER_S as i128);
        assert_eq!(iso8601_ns("2024-05-01T14:00:00+02:00").unwrap(), iso8601_ns("2024-05-01T12:00:00Z").unwrap());
        assert_eq!(iso8601_ns("2024-05-01T12:00:00-0130").unwrap(), iso8601_ns("2024-05-01T13:30:00Z").unwrap());
        for bad in ["2024-05-01", "2024-13-01T00:00:00Z", "2024-05-01T00:00:00.Z", "2024-05-01T00:00:00+2", "x"] {
            assert!(iso8601_ns(bad).is_err(), "{bad}");
        }
        let j = |t: &str| timestamp_ns(&serde_json::from_str(t).unwrap()).unwrap();
        assert_eq!(j("1714564800"), 1_714_564_800 * NS_PER_S as i128);
        assert_eq!(j("1714564800250"), 1_714_564_800_250_000_000);
        assert_eq!(j("1714564800250000"), 1_714_564_800_250_000_000);
        assert_eq!(j("\"1714564800.5\""), 1_714_564_800_500_000_000);
    }

    #[test]
    fn units_from_names() {
        assert_eq!(Unit::from_name("@duration"), Some(Unit::Millis));
        assert_eq!(Unit::from_name("duration_ms"), Some(Unit::Millis));
        assert_eq!(Unit::from_name("durationMs"), Some(Unit::Millis));
        assert_eq!(Unit::from_name("latency_s"), Some(Unit::Seconds));
        assert_eq!(Unit::from_name("duration"), None);
    }
}
