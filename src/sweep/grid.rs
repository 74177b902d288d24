//! The `[sweep]` table of a scenario file, read into a [`Grid`]: the swept
//! parameters in file order, each with its values, and the replication count.
//!
//! The keys of `[sweep]` are dotted scenario paths (quoted, as TOML needs:
//! `"queue.visibility_timeout"`), so `Source::error_at` cannot address them;
//! this module walks the file's span tree (`spans.rs`) and locates its own
//! errors at the offending key or value.

use crate::config::Source;
use crate::duration::{self, Nanos};
use crate::error::InputError;
use crate::spans::{Item, Node};
use std::ops::Range;

/// At most this many values per parameter (a range can expand to many).
const MAX_VALUES: usize = 10_000;
/// At most this many runs (points times replications) per sweep.
const MAX_RUNS: usize = 1_000_000;
/// At most this many replications.
const MAX_REPLICATIONS: i64 = 10_000;

/// One value of a swept parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepValue {
    /// The TOML value set at the parameter's path.
    pub value: toml::Value,
    /// As shown in labels, tables and CSV cells (strings unquoted).
    pub text: String,
    /// Where it was written (a range's values all point at the range).
    pub span: Range<usize>,
}

/// One swept parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// The dotted scenario path, as written in `[sweep]`.
    pub path: String,
    /// A short name for point labels ("vt", "hb").
    pub short: String,
    pub values: Vec<SweepValue>,
    /// The span of the key's value.
    pub span: Range<usize>,
}

/// The grid: the product of the parameters' values, first parameter slowest.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub params: Vec<Param>,
    pub replications: u32,
    /// The span of the `[sweep]` table.
    pub span: Range<usize>,
}

impl Grid {
    /// Number of grid points.
    pub fn points(&self) -> usize {
        self.params.iter().map(|p| p.values.len()).product()
    }

    /// The value index of each parameter at `point`.
    pub fn indices(&self, point: usize) -> Vec<usize> {
        let mut rest = point;
        let mut idx = vec![0; self.params.len()];
        for (k, p) in self.params.iter().enumerate().rev() {
            idx[k] = rest % p.values.len();
            rest /= p.values.len();
        }
        idx
    }

    /// The value of each parameter at `point`.
    pub fn values(&self, point: usize) -> Vec<&SweepValue> {
        self.indices(point).into_iter().zip(&self.params).map(|(j, p)| &p.values[j]).collect()
    }

    /// "vt=30s hb=off".
    pub fn label(&self, point: usize) -> String {
        let parts: Vec<String> =
            self.params.iter().zip(self.values(point)).map(|(p, v)| format!("{}={}", p.short, v.text)).collect();
        parts.join(" ")
    }
}

/// Read `[sweep]` from a loaded scenario.
pub fn parse(source: &Source) -> Result<Grid, InputError> {
    let sweep = match &source.spans().node {
        Node::Table(entries) => entries.iter().find(|(k, _)| k.name == "sweep"),
        _ => None,
    };
    let Some((sweep_key, table)) = sweep else {
        return Err(InputError::path(
            &source.path,
            "no [sweep] table; add one, e.g. [sweep] \"queue.visibility_timeout\" = [\"30s\", \"60s\"]",
        ));
    };
    let span = table.span.clone().or_else(|| sweep_key.span.clone()).unwrap_or(0..0);
    let Node::Table(entries) = &table.node else {
        return Err(InputError::at_span(&source.path, &source.text, Some(span), "`sweep` must be a table"));
    };
    let at = |span: Range<usize>, msg: String| InputError::at_span(&source.path, &source.text, Some(span), msg);
    let mut replications = 1;
    let mut params = Vec::new();
    for (key, entry) in entries {
        let entry_span = entry.span.clone().or_else(|| key.span.clone()).unwrap_or_else(|| span.clone());
        if key.name == "replications" {
            replications = parse_replications(entry, entry_span).map_err(|(s, m)| at(s, m))?;
        } else {
            params.push(parse_param(key.name.clone(), entry, entry_span).map_err(|(s, m)| at(s, m))?);
        }
    }
    if params.is_empty() {
        return Err(at(
            span,
            "[sweep] names no parameter; add e.g. \"queue.visibility_timeout\" = [\"30s\", \"60s\"]".into(),
        ));
    }
    name_params(&mut params);
    let grid = Grid { params, replications, span };
    if grid.points().saturating_mul(replications as usize) > MAX_RUNS {
        return Err(at(grid.span.clone(), format!("the sweep has more than {MAX_RUNS} runs; sweep fewer values")));
    }
    Ok(grid)
}

type Located = (Range<usize>, String);

fn parse_replications(entry: &Item, span: Range<usize>) -> Result<u32, Located> {
    match entry.node {
        Node::Int(n) if (1..=MAX_REPLICATIONS).contains(&n) => Ok(n as u32),
        _ => Err((span, format!("sweep.replications: expected an integer from 1 to {MAX_REPLICATIONS}"))),
    }
}

fn parse_param(path: String, entry: &Item, span: Range<usize>) -> Result<Param, Located> {
    let what = format!("sweep \"{path}\"");
    let values = match &entry.node {
        Node::Array(items) => list_values(&what, items, &span)?,
        Node::Table(fields) => {
            let table: toml::Table =
                fields.iter().filter_map(|(k, v)| Some((k.name.clone(), v.node.scalar()?))).collect();
            if let Some((k, _)) = fields.iter().find(|(_, v)| v.node.scalar().is_none()) {
                return Err((span, format!("{what}: `{}` in a range must be a string or a number", k.name)));
            }
            range_values(&what, &table, &span)?
        }
        _ => {
            let msg = format!("{what}: expected a list of values, e.g. [\"30s\", \"60s\"], or a range {{ from = \"15s\", to = \"300s\", step = \"15s\" }}");
            return Err((span, msg));
        }
    };
    if values.len() > MAX_VALUES {
        return Err((span, format!("{what}: {} values; at most {MAX_VALUES}", values.len())));
    }
    Ok(Param { short: String::new(), path, values, span })
}

fn list_values(what: &str, items: &[Item], span: &Range<usize>) -> Result<Vec<SweepValue>, Located> {
    if items.is_empty() {
        return Err((span.clone(), format!("{what}: empty list; give at least one value")));
    }
    let mut values: Vec<SweepValue> = Vec::with_capacity(items.len());
    for item in items {
        let span = item.span.clone().unwrap_or_else(|| span.clone());
        let Some(value) = item.node.scalar() else {
            return Err((span, format!("{what}: expected a string, number or boolean")));
        };
        let text = match &value {
            toml::Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        if values.iter().any(|v| v.text == text) {
            return Err((span, format!("{what}: the value {text} is listed twice")));
        }
        values.push(SweepValue { value, text, span });
    }
    Ok(values)
}

fn range_values(what: &str, t: &toml::Table, span: &Range<usize>) -> Result<Vec<SweepValue>, Located> {
    let err = |m: String| (span.clone(), format!("{what}: {m}"));
    if let Some(k) = t.keys().find(|k| !["from", "to", "step"].contains(&k.as_str())) {
        return Err(err(format!("unknown key `{k}` in a range; expected from, to and step")));
    }
    let get = |k: &str| {
        t.get(k).ok_or_else(|| {
            err(format!("a range needs `{k}`; e.g. {{ from = \"15s\", to = \"300s\", step = \"15s\" }}"))
        })
    };
    let (from, to, step) = (get("from")?, get("to")?, get("step")?);
    let values = match (from, to, step) {
        (toml::Value::String(a), toml::Value::String(b), toml::Value::String(c)) => {
            duration_range(a, b, c).map_err(err)?
        }
        _ => number_range(from, to, step).map_err(err)?,
    };
    Ok(values.into_iter().map(|(value, text)| SweepValue { value, text, span: span.clone() }).collect())
}

fn duration_range(from: &str, to: &str, step: &str) -> Result<Vec<(toml::Value, String)>, String> {
    let (a, b, s) = (duration::parse(from)?, duration::parse(to)?, duration::parse(step)?);
    let count = steps(a as f64, b as f64, s as f64)?;
    let value = |i: usize| -> Option<Nanos> { a.checked_add(s.checked_mul(i as u64)?).filter(|v| *v <= b) };
    Ok((0..count).map_while(value).map(duration::format_human).map(|t| (toml::Value::String(t.clone()), t)).collect())
}

fn number_range(
    from: &toml::Value,
    to: &toml::Value,
    step: &toml::Value,
) -> Result<Vec<(toml::Value, String)>, String> {
    let int = |v: &toml::Value| v.as_integer();
    if let (Some(a), Some(b), Some(s)) = (int(from), int(to), int(step)) {
        steps(a as f64, b as f64, s as f64)?; // the same checks as other ranges
                                              // Exact count in i128 (f64 loses precision near i64::MAX).
        let count = (i128::from(b) - i128::from(a)) / i128::from(s) + 1;
        let value = |i: i128| i64::try_from(i128::from(a) + i128::from(s) * i).ok();
        return Ok((0..count).map_while(value).map(toml::Value::Integer).map(|v| (v.clone(), v.to_string())).collect());
    }
    let num = |v: &toml::Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
    let (Some(a), Some(b), Some(s)) = (num(from), num(to), num(step)) else {
        return Err("from, to and step must be all durations (\"15s\") or all numbers".into());
    };
    let count = steps(a, b, s)?;
    let value = |i: usize| ((a + s * i as f64) * 1e10).round() / 1e10;
    Ok((0..count).map(|i| toml::Value::Float(value(i))).map(|v| (v.clone(), v.to_string())).collect())
}

/// How many values from..=to in steps of `step` (the last may fall short of `to`).
/// Every bound must be a finite number: NaN or infinity is an error, never
/// an empty or endless range.
fn steps(from: f64, to: f64, step: f64) -> Result<usize, String> {
    if let Some((k, v)) = [("from", from), ("to", to), ("step", step)].into_iter().find(|(_, v)| !v.is_finite()) {
        return Err(format!("`{k}` is {v}; a range needs finite numbers"));
    }
    if step <= 0.0 {
        return Err("step must be greater than zero".into());
    }
    if to < from {
        return Err("`to` is smaller than `from`".into());
    }
    let count = ((to - from) / step + 1e-9).floor() + 1.0;
    if count.is_nan() || count > MAX_VALUES as f64 {
        return Err(format!("the range has more than {MAX_VALUES} values"));
    }
    Ok((count as usize).max(1))
}

/// Give each parameter a short label name; full paths if two would clash.
fn name_params(params: &mut [Param]) {
    for p in params.iter_mut() {
        p.short = short_name(&p.path);
    }
    let clash = params.iter().enumerate().any(|(i, p)| params[..i].iter().any(|q| q.short == p.short));
    if clash {
        for p in params.iter_mut() {
            p.short = p.path.clone();
        }
    }
}

/// "queue.visibility_timeout" -> "vt", "workers.heartbeat.interval" -> "hb";
/// otherwise the initials of a multi-word last segment ("max_receive_count"
/// -> "mrc"), or the last segment itself.
pub fn short_name(path: &str) -> String {
    const KNOWN: &[(&str, &str)] = &[
        ("visibility_timeout", "vt"),
        ("heartbeat.interval", "hb"),
        ("heartbeat.extend", "hb_extend"),
        ("heartbeat.kind", "hb_kind"),
    ];
    if let Some((_, short)) = KNOWN.iter().find(|(suffix, _)| path == *suffix || path.ends_with(&format!(".{suffix}")))
    {
        return (*short).into();
    }
    let last = path.rsplit('.').next().unwrap_or(path);
    let words: Vec<&str> = last.split('_').filter(|w| !w.is_empty()).collect();
    if words.len() > 1 {
        words.iter().filter_map(|w| w.chars().next()).collect()
    } else {
        last.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn grid(sweep: &str) -> Result<Grid, InputError> {
        let text = format!("name = \"t\"\n[producer]\narrival = {{ kind = \"poisson\", rate = 1.0 }}\n[[workers]]\nname = \"w\"\n[handler]\nduration = \"1s\"\n[sweep]\n{sweep}\n");
        let source = Source::from_text(Path::new("t.toml"), text).expect("valid scenario");
        parse(&source)
    }

    fn texts(p: &Param) -> Vec<&str> {
        p.values.iter().map(|v| v.text.as_str()).collect()
    }

    #[test]
    fn parameters_keep_file_order_and_expand_ranges() {
        let g = grid("\"workers.heartbeat.interval\" = [\"off\", \"10s\"]\nreplications = 3\n\"queue.visibility_timeout\" = { from = \"30s\", to = \"90s\", step = \"30s\" }\n\"queue.max_receive_count\" = { from = 1, to = 5, step = 2 }").unwrap();
        assert_eq!(g.replications, 3);
        let paths: Vec<&str> = g.params.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["workers.heartbeat.interval", "queue.visibility_timeout", "queue.max_receive_count"]);
        assert_eq!(texts(&g.params[1]), ["30s", "1m", "1m30s"]);
        assert_eq!(texts(&g.params[2]), ["1", "3", "5"]);
        assert_eq!(g.points(), 18);
        assert_eq!(g.label(0), "hb=off vt=30s mrc=1");
        assert_eq!(g.label(1), "hb=off vt=30s mrc=3");
        assert_eq!(g.label(17), "hb=10s vt=1m30s mrc=5");
    }

    #[test]
    fn float_ranges_are_rounded() {
        let g = grid("\"queue.short_poll_miss\" = { from = 0.0, to = 0.3, step = 0.1 }").unwrap();
        assert_eq!(texts(&g.params[0]), ["0.0", "0.1", "0.2", "0.3"]);
    }

    #[test]
    fn malformed_entries_are_located() {
        for (sweep, needle) in [
            ("\"queue.visibility_timeout\" = []", "empty list"),
            ("\"queue.visibility_timeout\" = \"30s\"", "expected a list"),
            ("\"queue.visibility_timeout\" = { from = \"30s\", to = \"10s\", step = \"5s\" }", "smaller"),
            ("\"queue.visibility_timeout\" = { from = \"30s\", to = \"60s\", step = \"0s\" }", "greater than zero"),
            ("\"queue.visibility_timeout\" = { from = \"30s\", to = \"60x\", step = \"5s\" }", "unit"),
            ("\"queue.visibility_timeout\" = { from = \"30s\", upto = \"60s\" }", "unknown key"),
            ("\"queue.visibility_timeout\" = [\"30s\", \"30s\"]", "twice"),
            ("\"a\" = [1]\nreplications = 0", "replications"),
            ("replications = 2", "names no parameter"),
            // Issue 15: a NaN bound made an empty range and a panic later.
            ("\"queue.short_poll_miss\" = { from = nan, to = 0.5, step = 0.1 }", "finite"),
            ("\"queue.short_poll_miss\" = { from = 0.0, to = nan, step = 0.1 }", "finite"),
            ("\"queue.short_poll_miss\" = { from = 0.0, to = 0.5, step = nan }", "finite"),
            ("\"queue.short_poll_miss\" = { from = inf, to = inf, step = 1.0 }", "finite"),
            ("\"queue.short_poll_miss\" = { from = -inf, to = 0.5, step = 0.1 }", "finite"),
        ] {
            let e = grid(sweep).expect_err(sweep);
            assert!(e.message.contains(needle), "{sweep}: {e}");
            assert!(e.to_string().starts_with("t.toml:"), "{e}");
            assert!(matches!(e.location, crate::error::Location::File { line: 8.., .. }), "{sweep}: {e}");
        }
    }

    #[test]
    fn extreme_integer_and_duration_ranges_stay_in_bounds() {
        let g =
            grid("\"run.max_events\" = { from = 9223372036854775806, to = 9223372036854775807, step = 1 }").unwrap();
        assert_eq!(texts(&g.params[0]), ["9223372036854775806", "9223372036854775807"]);
        let g =
            grid("\"run.max_events\" = { from = 0, to = 9223372036854775807, step = 4611686018427387904 }").unwrap();
        assert_eq!(g.params[0].values.len(), 2);
        let g = grid("\"queue.retention\" = { from = \"0s\", to = \"3650d\", step = \"3650d\" }").unwrap();
        assert_eq!(texts(&g.params[0]), ["0s", "3650d"]);
    }

    #[test]
    fn short_names() {
        assert_eq!(short_name("queue.visibility_timeout"), "vt");
        assert_eq!(short_name("workers.w.heartbeat.interval"), "hb");
        assert_eq!(short_name("queue.max_receive_count"), "mrc");
        assert_eq!(short_name("seed"), "seed");
    }
}
