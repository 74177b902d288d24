//! Evaluation of parsed expectations against run summaries (JSON): resolving the written
//! summary paths (exact, or a unique suffix), selecting the sweep points of `where`, comparing
//! each replication's value or the confidence bounds of the mean, and the monotone trends along
//! a swept parameter. Each condition at each point gives one `Outcome` with what was measured.

use super::student_t::mean_ci;
use super::{
    cmp_num, err, floats_equal, join, Condition, Expect, ExpectError, Filter, Kind, Num, Op, Outcome, PointResult,
    Result, Selector, Span, Test, Trend,
};
use serde_json::Value as Json;
use std::cmp::Ordering;

/// Evaluate the expectations against results. A plain run is one point with empty params.
pub fn evaluate(e: &Expect, points: &[PointResult]) -> std::result::Result<Vec<Outcome>, ExpectError> {
    let ctx = Ctx::new(points)?;
    let mut out = Vec::new();
    for pi in 0..points.len() {
        for c in &e.conditions {
            out.push(ctx.eval_condition(c, pi)?);
        }
    }
    for rule in &e.points {
        for pi in ctx.select(&rule.select)? {
            for c in &rule.conditions {
                out.push(ctx.eval_condition(c, pi)?);
            }
        }
    }
    for t in &e.trends {
        out.extend(ctx.eval_trend(t)?);
    }
    Ok(out)
}

/// Points sharing the values of all swept parameters but one: (those values, point indices).
type Group = (Vec<(String, String)>, Vec<usize>);

struct Ctx<'p, 'a> {
    points: &'p [PointResult<'a>],
    schema: &'a Json,
    leaves: Vec<String>,
    swept: Vec<String>,
}

fn leaf_paths(v: &Json) -> Vec<String> {
    fn walk(prefix: &str, v: &Json, out: &mut Vec<String>) {
        match v {
            Json::Object(map) => {
                for (k, child) in map {
                    walk(&join(prefix, k), child, out);
                }
            }
            _ if !prefix.is_empty() => out.push(prefix.to_string()),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", v, &mut out);
    out
}

fn lookup<'a>(v: &'a Json, path: &str) -> Option<&'a Json> {
    path.split('.').try_fold(v, |cur, seg| cur.get(seg))
}

fn param<'p>(p: &'p PointResult, name: &str) -> &'p str {
    p.params.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

/// A grid value as written matches a `where` value textually or, when both are numbers, numerically.
fn value_matches(grid: &str, want: &str) -> bool {
    grid == want || matches!((grid.trim().parse::<f64>(), want.trim().parse::<f64>()), (Ok(a), Ok(b)) if a == b)
}

fn unknown_path_message(path: &str, leaves: &[String]) -> String {
    format!("unknown summary path `{path}`; available: {}", leaves.join(", "))
}

fn prefix_of(params: &[(String, String)]) -> String {
    if params.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("[{}] ", inner.join(", "))
}

impl<'p, 'a> Ctx<'p, 'a> {
    fn new(points: &'p [PointResult<'a>]) -> Result<Self> {
        let Some(first) = points.first() else {
            return err("no results to evaluate", &None);
        };
        if let Some(i) = points.iter().position(|p| p.summaries.is_empty()) {
            return err(format!("point {i} has no replication summaries"), &None);
        }
        let schema = first.summaries[0];
        Ok(Ctx {
            points,
            schema,
            leaves: leaf_paths(schema),
            swept: first.params.iter().map(|(k, _)| k.clone()).collect(),
        })
    }

    fn prefix(&self, pi: usize) -> String {
        let p = &self.points[pi];
        if p.params.is_empty() && self.points.len() > 1 {
            return format!("[point {pi}] ");
        }
        prefix_of(&p.params)
    }

    /// Resolves a written path to a leaf path of the summary (exact, or unique suffix match
    /// when its first segment is not a top-level key).
    fn resolve(&self, path: &str, span: &Option<Span>) -> Result<String> {
        if self.leaves.iter().any(|l| l == path) {
            return Ok(path.to_string());
        }
        let dotted = format!("{path}.");
        let under: Vec<&str> = self.leaves.iter().filter(|l| l.starts_with(&dotted)).map(String::as_str).collect();
        if !under.is_empty() {
            return err(format!("`{path}` is an object, not a value; use one of: {}", under.join(", ")), span);
        }
        let top = path.split('.').next().unwrap_or(path);
        if self.schema.get(top).is_none() {
            let suffix = format!(".{path}");
            let found: Vec<&str> = self.leaves.iter().filter(|l| l.ends_with(&suffix)).map(String::as_str).collect();
            match found.len() {
                1 => return Ok(found[0].to_string()),
                0 => {}
                _ => {
                    return err(
                        format!("ambiguous name `{path}`: it matches {}; write the full path", found.join(", ")),
                        span,
                    )
                }
            }
        }
        err(unknown_path_message(path, &self.leaves), span)
    }

    fn values(&self, pi: usize, path: &str, span: &Option<Span>) -> Result<Vec<&'a Json>> {
        let summaries = &self.points[pi].summaries;
        summaries
            .iter()
            .copied()
            .map(|s| match lookup(s, path) {
                Some(v) => Ok(v),
                None => err(unknown_path_message(path, &leaf_paths(s)), span),
            })
            .collect()
    }

    fn eval_condition(&self, c: &Condition, pi: usize) -> Result<Outcome> {
        let path = self.resolve(&c.path, &c.key_span)?;
        let vals = self.values(pi, &path, &c.key_span)?;
        let name = format!("{}{}", self.prefix(pi), describe(&path, &c.kind));
        match &c.kind {
            Kind::Each(test) => eval_each(c, &path, test, &vals, pi, name),
            Kind::Mean { test, confidence } => eval_mean(c, &path, test, *confidence, &vals, name),
        }
    }

    fn check_swept(&self, name: &str, span: &Option<Span>) -> Result<()> {
        if self.swept.iter().any(|s| s == name) {
            return Ok(());
        }
        if self.swept.is_empty() {
            return err(format!("`{name}` is not a swept parameter: this run is not a sweep"), span);
        }
        err(format!("`{name}` is not a swept parameter; swept: {}", self.swept.join(", ")), span)
    }

    fn grid_values(&self, name: &str) -> Vec<&'p str> {
        let mut out: Vec<&str> = Vec::new();
        for p in self.points {
            let v = param(p, name);
            if !out.contains(&v) {
                out.push(v);
            }
        }
        out
    }

    fn check_filter(&self, f: &Filter) -> Result<()> {
        self.check_swept(&f.param, &f.param_span)?;
        let grid = self.grid_values(&f.param);
        for (v, span) in &f.values {
            if !grid.iter().any(|g| value_matches(g, v)) {
                return err(
                    format!("{v:?} is not a value of `{}` in this sweep; its values: {}", f.param, grid.join(", ")),
                    span,
                );
            }
        }
        Ok(())
    }

    /// Indices of the points matching the selector (all points for an empty selector).
    fn select(&self, sel: &Selector) -> Result<Vec<usize>> {
        for f in &sel.filters {
            self.check_filter(f)?;
        }
        let is_match = |p: &PointResult| {
            sel.filters.iter().all(|f| {
                let g = param(p, &f.param);
                f.values.iter().any(|(v, _)| value_matches(g, v))
            })
        };
        let found: Vec<usize> = (0..self.points.len()).filter(|&i| is_match(&self.points[i])).collect();
        if found.is_empty() {
            return err("`where` matches no point of the sweep", &sel.span);
        }
        Ok(found)
    }

    fn eval_trend(&self, t: &Trend) -> Result<Vec<Outcome>> {
        let path = self.resolve(&t.metric, &t.metric_span)?;
        self.check_swept(&t.along, &t.along_span)?;
        let order = self.grid_values(&t.along);
        let rank = |pi: usize| {
            let v = param(&self.points[pi], &t.along);
            order.iter().position(|o| *o == v).unwrap_or(usize::MAX)
        };
        let mut out = Vec::new();
        for (others, mut members) in self.groups(&self.select(&t.select)?, &t.along) {
            members.sort_by_key(|&pi| rank(pi));
            out.push(self.trend_outcome(t, &path, &others, &members)?);
        }
        Ok(out)
    }

    /// Groups points by their values of all swept parameters other than `along`, in order of
    /// first appearance.
    fn groups(&self, selected: &[usize], along: &str) -> Vec<Group> {
        let mut groups: Vec<Group> = Vec::new();
        for &pi in selected {
            let others: Vec<(String, String)> =
                self.points[pi].params.iter().filter(|(k, _)| k != along).cloned().collect();
            match groups.iter_mut().find(|(o, _)| *o == others) {
                Some((_, members)) => members.push(pi),
                None => groups.push((others, vec![pi])),
            }
        }
        groups
    }

    fn trend_outcome(&self, t: &Trend, path: &str, others: &[(String, String)], members: &[usize]) -> Result<Outcome> {
        let mut series: Vec<(String, Option<f64>)> = Vec::new();
        for &pi in members {
            let vals = self.values(pi, path, &t.metric_span)?;
            let mean = mean_of(&vals).map_err(|found| {
                ExpectError::new(
                    format!("`{path}` is {found} in the summary; a trend needs numbers"),
                    t.metric_span.clone(),
                )
            })?;
            series.push((param(&self.points[pi], &t.along).to_string(), mean));
        }
        let passed = series.windows(2).all(|w| match (w[0].1, w[1].1) {
            (Some(a), Some(b)) => t.direction.holds(a, b),
            _ => false,
        }) && series.iter().all(|(_, m)| m.is_some());
        let measured: Vec<String> =
            series.iter().map(|(v, m)| format!("{v}: {}", m.map_or("null".to_string(), fmt_num))).collect();
        Ok(Outcome {
            name: format!("{}{path} {} along {}", prefix_of(others), t.direction.name(), t.along),
            measured: measured.join(", "),
            bound: t.direction.name().to_string(),
            passed,
            witness: None,
        })
    }
}

/// Mean of numeric values; `Ok(None)` if any is null, `Err(kind)` for a non-number.
fn mean_of(vals: &[&Json]) -> std::result::Result<Option<f64>, &'static str> {
    let mut sum = 0.0;
    for v in vals {
        match v {
            Json::Number(n) => sum += json_num(n).f64(),
            Json::Null => return Ok(None),
            other => return Err(json_kind(other)),
        }
    }
    Ok(Some(sum / vals.len().max(1) as f64))
}

fn describe(path: &str, kind: &Kind) -> String {
    match kind {
        Kind::Each(test) => format!("{path} {}", test_text(test)),
        Kind::Mean { test, confidence } => {
            format!("mean({path}) {} ({} confidence)", test_text(test), pct(*confidence))
        }
    }
}

fn test_text(test: &Test) -> String {
    match test {
        Test::Cmp(op, b) => format!("{} {}", op.symbol(), b.text),
        Test::Between(lo, hi) => format!("between {} and {}", lo.text, hi.text),
        Test::Bool(b) => format!("== {b}"),
    }
}

fn pct(c: f64) -> String {
    format!("{}%", fmt_num(c * 100.0))
}

fn json_kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn json_num(n: &serde_json::Number) -> Num {
    if let Some(i) = n.as_i64() {
        Num::Int(i128::from(i))
    } else if let Some(u) = n.as_u64() {
        Num::Int(i128::from(u))
    } else {
        Num::Float(n.as_f64().unwrap_or(f64::NAN))
    }
}

fn fmt_value(m: Num) -> String {
    match m {
        Num::Int(i) => i.to_string(),
        Num::Float(f) => fmt_num(f),
    }
}

/// Six significant digits, without trailing noise.
fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    let r: f64 = format!("{x:.5e}").parse().unwrap_or(x);
    if r == r.trunc() && r.abs() < 1e15 {
        format!("{}", r as i64)
    } else if r.abs() < 1e-4 {
        format!("{r:e}")
    } else {
        format!("{r}")
    }
}

/// Equality: exact against an integer bound, relative tolerance 1e-9 against a float bound.
fn num_eq(m: Num, bound: Num) -> bool {
    match bound {
        Num::Float(b) => floats_equal(m.f64(), b),
        Num::Int(_) => cmp_num(m, bound) == Some(Ordering::Equal),
    }
}

fn test_num(test: &Test, m: Num) -> bool {
    use Ordering::{Equal, Greater, Less};
    match test {
        Test::Cmp(Op::Eq, b) => num_eq(m, b.num),
        Test::Cmp(Op::Ne, b) => !num_eq(m, b.num),
        Test::Cmp(op, b) => {
            let ord = cmp_num(m, b.num);
            match op {
                Op::Lt => ord == Some(Less),
                Op::Le => matches!(ord, Some(Less | Equal)),
                Op::Gt => ord == Some(Greater),
                _ => matches!(ord, Some(Greater | Equal)),
            }
        }
        Test::Between(lo, hi) => {
            matches!(cmp_num(m, lo.num), Some(Greater | Equal)) && matches!(cmp_num(m, hi.num), Some(Less | Equal))
        }
        Test::Bool(_) => false,
    }
}

/// One replication's value against a test: `(passed, shown)`, or `Err(kind)` on a type mismatch.
fn check(test: &Test, v: &Json) -> std::result::Result<(bool, String), &'static str> {
    match (test, v) {
        (_, Json::Null) => Ok((false, "null".to_string())),
        (Test::Bool(b), Json::Bool(m)) => Ok((m == b, m.to_string())),
        (Test::Bool(_), other) => Err(json_kind(other)),
        (_, Json::Number(n)) => {
            let m = json_num(n);
            Ok((test_num(test, m), fmt_value(m)))
        }
        (_, other) => Err(json_kind(other)),
    }
}

fn type_error(path: &str, found: &str, test: &Test, span: &Option<Span>) -> ExpectError {
    let wanted = if matches!(test, Test::Bool(_)) { "a boolean" } else { "a number" };
    ExpectError::new(format!("`{path}` is {found} in the summary, but the condition needs {wanted}"), span.clone())
}

/// "min..max over n replications" (or the single value) for a passing condition.
fn range_text(vals: &[&Json]) -> String {
    let n = vals.len();
    let nums: Vec<Num> = vals.iter().filter_map(|v| v.as_number().map(json_num)).collect();
    let pick = |want: Ordering| nums.iter().copied().reduce(|a, b| if cmp_num(b, a) == Some(want) { b } else { a });
    match (pick(Ordering::Less), pick(Ordering::Greater)) {
        (Some(lo), Some(hi)) if cmp_num(lo, hi) != Some(Ordering::Equal) => {
            format!("{}..{} over {n} replications", fmt_value(lo), fmt_value(hi))
        }
        (Some(v), _) => format!("{} in all {n} replications", fmt_value(v)),
        _ => format!("{} in all {n} replications", vals[0]),
    }
}

fn eval_each(c: &Condition, path: &str, test: &Test, vals: &[&Json], pi: usize, name: String) -> Result<Outcome> {
    let mut first_fail: Option<(usize, String)> = None;
    let mut fails = 0;
    let mut last_shown = String::new();
    for (r, v) in vals.iter().enumerate() {
        let (ok, shown) = check(test, v).map_err(|found| type_error(path, found, test, &c.value_span))?;
        if !ok {
            fails += 1;
            first_fail.get_or_insert((r, shown.clone()));
        }
        last_shown = shown;
    }
    let n = vals.len();
    let measured = match &first_fail {
        Some((r, shown)) if n > 1 => {
            format!("{shown} in replication {r} ({fails} of {n} failed)")
        }
        Some((_, shown)) => shown.clone(),
        None if n > 1 => range_text(vals),
        None => last_shown,
    };
    Ok(Outcome {
        name,
        measured,
        bound: test_text(test),
        passed: first_fail.is_none(),
        witness: first_fail.map(|(r, _)| (pi, r)),
    })
}

fn eval_mean(c: &Condition, path: &str, test: &Test, confidence: f64, vals: &[&Json], name: String) -> Result<Outcome> {
    let n = vals.len();
    if n < 2 {
        return err(
            format!("mean({path}) needs at least 2 replications, got {n}; set `replications` in [expect]"),
            &c.key_span,
        );
    }
    let bound = test_text(test);
    let mut xs = Vec::with_capacity(n);
    for (r, v) in vals.iter().enumerate() {
        match v {
            Json::Number(num) => xs.push(json_num(num).f64()),
            Json::Null => {
                let measured = format!("null in replication {r}");
                return Ok(Outcome { name, measured, bound, passed: false, witness: None });
            }
            other => return Err(type_error(path, json_kind(other), test, &c.value_span)),
        }
    }
    let (mean, lo, hi) = mean_ci(&xs, confidence);
    let level = pct(confidence);
    let (passed, shown) = match test {
        Test::Cmp(Op::Lt, b) => (hi < b.num.f64(), format!("{level} upper bound {}", fmt_num(hi))),
        Test::Cmp(Op::Le, b) => (hi <= b.num.f64(), format!("{level} upper bound {}", fmt_num(hi))),
        Test::Cmp(Op::Gt, b) => (lo > b.num.f64(), format!("{level} lower bound {}", fmt_num(lo))),
        Test::Cmp(Op::Ge, b) => (lo >= b.num.f64(), format!("{level} lower bound {}", fmt_num(lo))),
        Test::Between(a, b) => {
            (lo >= a.num.f64() && hi <= b.num.f64(), format!("{level} bounds [{}, {}]", fmt_num(lo), fmt_num(hi)))
        }
        _ => (false, String::new()),
    };
    Ok(Outcome { name, measured: format!("mean {} ({shown}, n={n})", fmt_num(mean)), bound, passed, witness: None })
}
