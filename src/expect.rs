//! Expectations: what a scenario's `[expect]` table says must hold, and their evaluation against run summaries.
//!
//! Syntax (all keys optional, but the table may not be empty):
//!
//! ```toml
//! [expect]
//! replications = 20                         # seeds a plain check runs (default 1)
//! duplicate_effects = 0                     # equality with an integer, float (rel. tol. 1e-9) or bool
//! "retry_latency_s.p99" = "< 240"           # <, <=, >, >=, ==, != followed by a number
//! dlq = ">= 1"                              # a name that is not top-level resolves to the unique leaf ending in it
//! "e2e_latency_s.p99" = "between 1 and 60"  # inclusive range
//! duplicate_rate = { mean = "< 0.001", confidence = 0.95 }  # one-sided Student-t bound on the mean
//!
//! [[expect.points]]                         # conditions at the sweep points matching `where`
//! where = { "queue.visibility_timeout" = "180s" }
//! duplicate_effects = 0
//!
//! [[expect.trends]]                         # monotonicity of a per-point mean along one swept parameter
//! metric = "duplicate_rate"
//! along = "queue.visibility_timeout"
//! direction = "non_increasing"              # increasing, non_decreasing, decreasing, non_increasing
//! ```
//!
//! Dotted keys and sub-tables (`retry_latency_s.p99 = "< 240"`, `[expect.final]`) name nested
//! summary paths too. Per-replication conditions must hold in every replication; `{ mean = ... }`
//! conditions apply to the mean over the replications of a point.

use crate::spans::{Item, Key, Node};
use serde_json::Value as Json;
use std::cmp::Ordering;
use std::fmt;
use std::ops::Range;

type Span = Range<usize>;

const DEFAULT_CONFIDENCE: f64 = 0.95;
const REL_TOL: f64 = 1e-9;

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

/// An input error in the expectations, with the byte span of the offending key or value within
/// the scenario file text (when known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectError {
    pub message: String,
    pub span: Option<Range<usize>>,
}

impl ExpectError {
    fn new(message: impl Into<String>, span: Option<Span>) -> Self {
        ExpectError { message: message.into(), span }
    }

    /// 1-based line and column (in characters) of the span start within `text`.
    pub fn line_col(&self, text: &str) -> Option<(usize, usize)> {
        let start = self.span.as_ref()?.start.min(text.len());
        let before = text.get(..start)?;
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Some((line, col))
    }
}

impl fmt::Display for ExpectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExpectError {}

type Result<T> = std::result::Result<T, ExpectError>;

fn err<T>(message: impl Into<String>, span: &Option<Span>) -> Result<T> {
    Err(ExpectError::new(message, span.clone()))
}

/// The parsed and validated `[expect]` table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expect {
    replications: Option<u32>,
    conditions: Vec<Condition>,
    points: Vec<PointRule>,
    trends: Vec<Trend>,
}

impl Expect {
    /// How many seeds a plain (non-sweep) check runs, when stated.
    pub fn replications(&self) -> Option<u32> {
        self.replications
    }

    /// True when there is nothing to check (e.g. only `replications` was given).
    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty() && self.points.is_empty() && self.trends.is_empty()
    }
}

/// The results at one grid point: swept parameter values in grid order (empty for a plain run)
/// and one summary per replication.
pub struct PointResult<'a> {
    pub params: Vec<(String, String)>,
    pub summaries: Vec<&'a Json>,
}

/// The verdict on one condition (at one point) or one trend group.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// e.g. "duplicate_effects == 0" or "[queue.visibility_timeout=180s] duplicate_effects == 0"
    pub name: String,
    pub measured: String,
    pub bound: String,
    pub passed: bool,
    /// for a failed per-replication condition: which point index and replication index failed first (so the caller can replay it with a trace)
    pub witness: Option<(usize, usize)>,
}

// ---------------------------------------------------------------------------------------------
// Internal model
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    const ALL: [(&'static str, Op); 6] =
        [("<=", Op::Le), (">=", Op::Ge), ("==", Op::Eq), ("!=", Op::Ne), ("<", Op::Lt), (">", Op::Gt)];

    fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    fn f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Bound {
    num: Num,
    text: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Test {
    Cmp(Op, Bound),
    Between(Bound, Bound),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// Must hold in every replication.
    Each(Test),
    /// Must hold for the one-sided confidence bound(s) of the mean over replications.
    Mean { test: Test, confidence: f64 },
}

#[derive(Debug, Clone, PartialEq)]
struct Condition {
    path: String,
    key_span: Option<Span>,
    value_span: Option<Span>,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    param: String,
    param_span: Option<Span>,
    values: Vec<(String, Option<Span>)>,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Selector {
    filters: Vec<Filter>,
    span: Option<Span>,
}

#[derive(Debug, Clone, PartialEq)]
struct PointRule {
    select: Selector,
    conditions: Vec<Condition>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Increasing,
    NonDecreasing,
    Decreasing,
    NonIncreasing,
}

impl Direction {
    fn parse(s: &str) -> Option<Direction> {
        match s.replace('-', "_").as_str() {
            "increasing" => Some(Direction::Increasing),
            "non_decreasing" => Some(Direction::NonDecreasing),
            "decreasing" => Some(Direction::Decreasing),
            "non_increasing" => Some(Direction::NonIncreasing),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Direction::Increasing => "increasing",
            Direction::NonDecreasing => "non_decreasing",
            Direction::Decreasing => "decreasing",
            Direction::NonIncreasing => "non_increasing",
        }
    }

    /// Whether the step from `a` to `b` respects the direction (equality within REL_TOL).
    fn holds(self, a: f64, b: f64) -> bool {
        let equal = floats_equal(a, b);
        match self {
            Direction::Increasing => b > a && !equal,
            Direction::NonDecreasing => b > a || equal,
            Direction::Decreasing => b < a && !equal,
            Direction::NonIncreasing => b < a || equal,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Trend {
    metric: String,
    metric_span: Option<Span>,
    along: String,
    along_span: Option<Span>,
    direction: Direction,
    select: Selector,
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// Parse the `[expect]` table of a scenario file. `Ok(None)` when there is none.
pub fn parse(text: &str) -> std::result::Result<Option<Expect>, ExpectError> {
    let root: Item = toml::from_str(text)
        .map_err(|e| ExpectError::new(format!("invalid TOML: {}", e.message().trim()), e.span()))?;
    let Node::Table(entries) = root.node else {
        return Ok(None);
    };
    match entries.into_iter().find(|(k, _)| k.name == "expect") {
        Some((key, item)) => parse_expect(&key, item).map(Some),
        None => Ok(None),
    }
}

fn parse_expect(key: &Key, item: Item) -> Result<Expect> {
    let span = item.span.clone().or_else(|| key.span.clone());
    let entries = match item.node {
        Node::Table(entries) => entries,
        other => return err(format!("`expect` must be a table, not {}", other.kind()), &span),
    };
    if entries.is_empty() {
        let at = key.span.clone().or(span);
        return err("the [expect] table is empty: state at least one condition", &at);
    }
    let mut e = Expect::default();
    for (k, v) in entries {
        match k.name.as_str() {
            "replications" => e.replications = Some(parse_replications(v)?),
            "points" => e.points = parse_array_of(&k, v, parse_point_rule)?,
            "trends" => e.trends = parse_array_of(&k, v, parse_trend)?,
            _ => parse_conditions("", &k, v, &mut e.conditions)?,
        }
    }
    Ok(e)
}

fn parse_replications(item: Item) -> Result<u32> {
    match item.node {
        Node::Int(n) if n >= 1 => {
            u32::try_from(n).or_else(|_| err(format!("`replications` = {n} is too large"), &item.span))
        }
        other => err(format!("`replications` must be a positive integer, not {}", describe_node(&other)), &item.span),
    }
}

fn describe_node(node: &Node) -> String {
    match node {
        Node::Int(i) => i.to_string(),
        Node::Float(f) => format!("{f:?}"),
        Node::Bool(b) => b.to_string(),
        Node::Str(s) => format!("{s:?}"),
        other => other.kind().to_string(),
    }
}

fn parse_array_of<T>(key: &Key, item: Item, f: fn(Item) -> Result<T>) -> Result<Vec<T>> {
    let name = &key.name;
    match item.node {
        Node::Array(items) => items.into_iter().map(f).collect(),
        Node::Table(_) => err(format!("`{name}` must be an array of tables: write [[expect.{name}]]"), &item.span),
        other => err(format!("`{name}` must be an array of tables, not {}", other.kind()), &item.span),
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

fn check_path(path: &str, span: &Option<Span>) -> Result<()> {
    if path.split('.').any(|seg| seg.trim().is_empty()) {
        return err(format!("invalid summary path {path:?}: empty segment"), span);
    }
    Ok(())
}

/// Parses `key = value` as one condition, or a sub-table of conditions under the path `key`.
fn parse_conditions(prefix: &str, key: &Key, item: Item, out: &mut Vec<Condition>) -> Result<()> {
    let path = join(prefix, &key.name);
    let key_span = key.span.clone().or_else(|| item.span.clone());
    check_path(&path, &key_span)?;
    let value_span = item.span.clone();
    let kind = match item.node {
        Node::Table(entries) if is_stat(&entries) => parse_stat(entries, &value_span)?,
        Node::Table(entries) if entries.is_empty() => {
            return err(format!("`{path}`: empty table, no condition"), &value_span)
        }
        Node::Table(entries) => {
            for (k, v) in entries {
                parse_conditions(&path, &k, v, out)?;
            }
            return Ok(());
        }
        node => Kind::Each(parse_test(node, &value_span)?),
    };
    out.push(Condition { path, key_span, value_span, kind });
    Ok(())
}

fn is_stat(entries: &[(Key, Item)]) -> bool {
    entries.iter().any(|(k, _)| k.name == "mean" || k.name == "confidence")
}

fn parse_test(node: Node, span: &Option<Span>) -> Result<Test> {
    match node {
        Node::Int(i) => Ok(Test::Cmp(Op::Eq, Bound { num: Num::Int(i128::from(i)), text: i.to_string() })),
        Node::Float(f) if f.is_finite() => Ok(Test::Cmp(Op::Eq, Bound { num: Num::Float(f), text: format!("{f:?}") })),
        Node::Bool(b) => Ok(Test::Bool(b)),
        Node::Str(s) => parse_test_str(&s, span),
        other => err(
            format!(
                "expected a number, a boolean, a condition string such as \"< 5\", \
                 or {{ mean = \"< x\", confidence = 0.95 }}, not {}",
                describe_node(&other)
            ),
            span,
        ),
    }
}

fn parse_number(token: &str) -> Option<Num> {
    let t = token.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Some(Num::Int(i128::from(i)));
    }
    let f = t.parse::<f64>().ok()?;
    (f.is_finite() && t.bytes().any(|b| b.is_ascii_digit())).then_some(Num::Float(f))
}

fn parse_bound(token: &str, whole: &str, span: &Option<Span>) -> Result<Bound> {
    let text = token.trim();
    match parse_number(text) {
        Some(num) => Ok(Bound { num, text: text.to_string() }),
        None => err(format!("non-numeric bound {text:?} in {whole:?}"), span),
    }
}

fn parse_test_str(s: &str, span: &Option<Span>) -> Result<Test> {
    let t = s.trim();
    if let Some(rest) = t.strip_prefix("between") {
        if rest.starts_with(char::is_whitespace) {
            return parse_between(rest, t, span);
        }
    }
    for (symbol, op) in Op::ALL {
        if let Some(rest) = t.strip_prefix(symbol) {
            return Ok(Test::Cmp(op, parse_bound(rest, t, span)?));
        }
    }
    let hint = if parse_number(t).is_some() || t == "true" || t == "false" {
        format!("; for equality write it without quotes or as \"== {t}\"")
    } else {
        String::new()
    };
    err(
        format!(
            "unknown operator in {t:?}: expected <, <=, >, >=, ==, != followed by a number, \
             or \"between A and B\"{hint}"
        ),
        span,
    )
}

fn parse_between(rest: &str, whole: &str, span: &Option<Span>) -> Result<Test> {
    let Some((a, b)) = rest.split_once(" and ") else {
        return err(format!("expected \"between A and B\", found {whole:?}"), span);
    };
    let lo = parse_bound(a, whole, span)?;
    let hi = parse_bound(b, whole, span)?;
    if cmp_num(lo.num, hi.num) == Some(Ordering::Greater) {
        return err(format!("empty range in {whole:?}: lower bound above upper"), span);
    }
    Ok(Test::Between(lo, hi))
}

fn parse_stat(entries: Vec<(Key, Item)>, span: &Option<Span>) -> Result<Kind> {
    let mut test = None;
    let mut confidence = DEFAULT_CONFIDENCE;
    for (k, v) in entries {
        match k.name.as_str() {
            "mean" => test = Some(parse_mean_test(v)?),
            "confidence" => confidence = parse_confidence(v)?,
            other => {
                return err(
                    format!("unknown key `{other}` in a statistical condition: expected `mean`, `confidence`"),
                    &k.span.or(v.span),
                )
            }
        }
    }
    match test {
        Some(test) => Ok(Kind::Mean { test, confidence }),
        None => err("a statistical condition needs `mean`, e.g. { mean = \"< 0.001\", confidence = 0.95 }", span),
    }
}

fn parse_mean_test(item: Item) -> Result<Test> {
    let test = match item.node {
        Node::Str(s) => parse_test_str(&s, &item.span)?,
        other => {
            return err(
                format!("`mean` takes a condition string such as \"< 0.001\", not {}", describe_node(&other)),
                &item.span,
            )
        }
    };
    match test {
        Test::Cmp(Op::Eq | Op::Ne, _) | Test::Bool(_) => err(
            "`mean` supports <, <=, >, >= and \"between A and B\" (a confidence bound cannot show equality)",
            &item.span,
        ),
        test => Ok(test),
    }
}

fn parse_confidence(item: Item) -> Result<f64> {
    let c = match item.node {
        Node::Float(f) => f,
        Node::Int(i) => i as f64,
        _ => f64::NAN,
    };
    if open_unit(c) {
        Ok(c)
    } else {
        err("`confidence` must be a number strictly between 0 and 1, e.g. 0.95", &item.span)
    }
}

fn into_table(item: Item, what: &str) -> Result<Vec<(Key, Item)>> {
    match item.node {
        Node::Table(entries) => Ok(entries),
        other => err(format!("{what} must be a table, not {}", other.kind()), &item.span),
    }
}

fn parse_point_rule(item: Item) -> Result<PointRule> {
    let span = item.span.clone();
    let entries = into_table(item, "an [[expect.points]] entry")?;
    let mut rule = PointRule { select: Selector::default(), conditions: Vec::new() };
    for (k, v) in entries {
        match k.name.as_str() {
            "where" => rule.select = parse_selector(v)?,
            "replications" | "points" | "trends" => {
                return err(format!("`{}` is not allowed inside [[expect.points]]", k.name), &k.span)
            }
            _ => parse_conditions("", &k, v, &mut rule.conditions)?,
        }
    }
    if rule.conditions.is_empty() {
        return err("this [[expect.points]] entry states no condition", &span);
    }
    Ok(rule)
}

fn parse_selector(item: Item) -> Result<Selector> {
    let span = item.span.clone();
    let entries = into_table(item, "`where`")?;
    let mut filters = Vec::new();
    collect_filters("", entries, &mut filters)?;
    Ok(Selector { filters, span })
}

fn collect_filters(prefix: &str, entries: Vec<(Key, Item)>, out: &mut Vec<Filter>) -> Result<()> {
    for (k, v) in entries {
        let param = join(prefix, &k.name);
        let param_span = k.span.clone().or_else(|| v.span.clone());
        let values = match v.node {
            Node::Table(t) => {
                collect_filters(&param, t, out)?;
                continue;
            }
            Node::Array(items) if items.is_empty() => return err(format!("`{param}`: empty list of values"), &v.span),
            Node::Array(items) => items
                .into_iter()
                .map(|i| scalar_text(i.node, &i.span).map(|s| (s, i.span)))
                .collect::<Result<Vec<_>>>()?,
            node => vec![(scalar_text(node, &v.span)?, v.span)],
        };
        out.push(Filter { param, param_span, values });
    }
    Ok(())
}

fn scalar_text(node: Node, span: &Option<Span>) -> Result<String> {
    match node {
        Node::Str(s) | Node::Datetime(s) => Ok(s),
        Node::Int(i) => Ok(i.to_string()),
        Node::Float(f) => Ok(f.to_string()),
        Node::Bool(b) => Ok(b.to_string()),
        other => err(format!("a parameter value must be a string or number, not {}", other.kind()), span),
    }
}

fn string_field(key: &Key, item: Item) -> Result<(String, Option<Span>)> {
    match item.node {
        Node::Str(s) => Ok((s, item.span)),
        other => err(format!("`{}` must be a string, not {}", key.name, other.kind()), &item.span),
    }
}

fn parse_trend(item: Item) -> Result<Trend> {
    let span = item.span.clone();
    let entries = into_table(item, "an [[expect.trends]] entry")?;
    let (mut metric, mut along, mut direction) = (None, None, None);
    let mut select = Selector::default();
    for (k, v) in entries {
        match k.name.as_str() {
            "metric" => metric = Some(string_field(&k, v)?),
            "along" => along = Some(string_field(&k, v)?),
            "direction" => direction = Some(parse_direction(&k, v)?),
            "where" => select = parse_selector(v)?,
            other => {
                return err(
                    format!("unknown key `{other}` in [[expect.trends]]: expected metric, along, direction, where"),
                    &k.span.or(v.span),
                )
            }
        }
    }
    let missing = |what: &str| ExpectError::new(format!("[[expect.trends]] needs `{what}`"), span.clone());
    let (metric, metric_span) = metric.ok_or_else(|| missing("metric"))?;
    check_path(&metric, &metric_span)?;
    let (along, along_span) = along.ok_or_else(|| missing("along"))?;
    let direction = direction.ok_or_else(|| missing("direction"))?;
    Ok(Trend { metric, metric_span, along, along_span, direction, select })
}

fn parse_direction(key: &Key, item: Item) -> Result<Direction> {
    let (s, span) = string_field(key, item)?;
    Direction::parse(&s).map_or_else(
        || {
            err(
                format!("unknown direction {s:?}: expected increasing, non_decreasing, decreasing or non_increasing"),
                &span,
            )
        },
        Ok,
    )
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

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

fn cmp_num(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => Some(x.cmp(&y)),
        _ => a.f64().partial_cmp(&b.f64()),
    }
}

fn floats_equal(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= REL_TOL * a.abs().max(b.abs())
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

// ---------------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------------

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
fn open_unit(x: f64) -> bool {
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

// ---------------------------------------------------------------------------------------------
// JUnit XML
// ---------------------------------------------------------------------------------------------

/// XML-escapes text for use in attributes and element content; characters not allowed in
/// XML 1.0 become U+FFFD.
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one `<testsuite>` per scenario, one `<testcase>` per outcome, `<failure>` for
/// failed ones. Deterministic (no timestamps or durations).
pub fn junit_xml(suites: &[(String, Vec<Outcome>)]) -> String {
    let count = |v: &[Outcome]| v.iter().filter(|o| !o.passed).count();
    let tests: usize = suites.iter().map(|(_, v)| v.len()).sum();
    let failures: usize = suites.iter().map(|(_, v)| count(v)).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"dupsim check\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\">\n"
    ));
    for (name, outcomes) in suites {
        let name = xml_escape(name);
        out.push_str(&format!(
            "  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\">\n",
            outcomes.len(),
            count(outcomes)
        ));
        for o in outcomes {
            out.push_str(&testcase_xml(&name, o));
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn testcase_xml(suite: &str, o: &Outcome) -> String {
    let head = format!("    <testcase classname=\"{suite}\" name=\"{}\"", xml_escape(&o.name));
    if o.passed {
        return format!("{head}/>\n");
    }
    let mut detail = format!("measured: {}\nexpected: {}", o.measured, o.bound);
    if let Some((p, r)) = o.witness {
        detail.push_str(&format!("\nwitness: point {p}, replication {r}"));
    }
    let message = format!("measured {}, expected {}", o.measured, o.bound);
    format!(
        "{head}>\n      <failure message=\"{}\" type=\"expectation\">{}</failure>\n    </testcase>\n",
        xml_escape(&message),
        xml_escape(&detail)
    )
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn summary(dup: i64, rate: f64) -> Json {
        json!({
            "scenario": "s", "seed": 1, "sim_time_s": 100.0, "events": 10, "sent": 100,
            "deliveries": 110, "redeliveries": 10,
            "causes": {"concurrent": 1, "after_failure": 2, "after_crash": 0, "after_success": 0, "broker": 0},
            "effects": 100, "duplicate_effects": dup, "duplicate_rate": rate,
            "final": {"deleted": 95, "dlq": 2, "expired": 0, "lost": 0, "in_flight": 0, "visible": 3},
            "retry_latency_s": {"count": 10, "p50": 30.0, "p90": 60.0, "p99": 120.0, "p999": 130.0, "max": 140.0},
            "e2e_latency_s": {"count": 100, "p50": 1.0, "p90": 2.0, "p99": 5.0, "p999": 6.0, "max": 7.0},
            "api_calls": {"send": 100, "receive": 120, "empty_receive": 5, "delete": 95, "change_visibility": 0},
            "cost_usd": 0.0001, "perf": {"wall_s": 0.5},
            "flag": true, "nothing": null
        })
    }

    fn parsed(text: &str) -> Expect {
        match parse(text) {
            Ok(Some(e)) => e,
            other => panic!("parse of {text:?} gave {other:?}"),
        }
    }

    fn plain(text: &str, summaries: &[Json]) -> std::result::Result<Vec<Outcome>, ExpectError> {
        let e = parsed(text);
        let point = PointResult { params: vec![], summaries: summaries.iter().collect() };
        evaluate(&e, &[point])
    }

    fn span_text<'t>(text: &'t str, e: &ExpectError) -> &'t str {
        let span = e.span.clone().unwrap_or_else(|| panic!("no span in {e:?}"));
        &text[span]
    }

    #[test]
    fn operators_pass_and_fail() {
        let rows: &[(&str, Json, bool)] = &[
            ("\"< 5\"", json!(4), true),
            ("\"< 5\"", json!(5), false),
            ("\"<= 5\"", json!(5), true),
            ("\"<= 5\"", json!(5.5), false),
            ("\"> 5\"", json!(6), true),
            ("\"> 5\"", json!(5), false),
            ("\">= 5\"", json!(5.0), true),
            ("\">= 5\"", json!(4.99), false),
            ("\"== 3\"", json!(3), true),
            ("\"== 3\"", json!(4), false),
            ("\"!= 3\"", json!(4), true),
            ("\"!= 3\"", json!(3), false),
            ("\"==0.5\"", json!(0.5), true),
            ("\"!= 0.5\"", json!(0.5 + 1e-13), false),
            ("0", json!(0), true),
            ("0", json!(1), false),
            ("0", json!(0.0), true),
            ("7", json!(u64::MAX), false),
            ("0.5", json!(0.5 * (1.0 + 1e-12)), true),
            ("0.5", json!(0.5001), false),
            ("1e-3", json!(0.001), true),
            ("\"between 1 and 60\"", json!(1), true),
            ("\"between 1 and 60\"", json!(60.0), true),
            ("\"between 1 and 60\"", json!(0.5), false),
            ("\"between 1 and 60\"", json!(61), false),
            ("\"between -1.5 and 2\"", json!(-1.5), true),
            ("true", json!(true), true),
            ("true", json!(false), false),
            ("false", json!(false), true),
            ("\"< 5\"", json!(null), false),
        ];
        for (cond, measured, want) in rows {
            let text = format!("[expect]\nx = {cond}\n");
            let out = plain(&text, &[json!({ "x": measured })]).unwrap();
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].passed, *want, "{cond} on {measured}: {:?}", out[0]);
            assert_eq!(out[0].witness, (!want).then_some((0, 0)));
        }
    }

    #[test]
    fn outcome_text() {
        let out = plain("[expect]\n\"retry_latency_s.p99\" = \"< 240\"\nduplicate_effects = 0\n", &[summary(3, 0.03)])
            .unwrap();
        assert_eq!(out[0].name, "retry_latency_s.p99 < 240");
        assert_eq!((out[0].measured.as_str(), out[0].passed), ("120", true));
        assert_eq!(out[1].name, "duplicate_effects == 0");
        assert_eq!((out[1].bound.as_str(), out[1].passed), ("== 0", false));
    }

    #[test]
    fn every_replication_must_pass_and_witness_is_first_failure() {
        let s = [summary(0, 0.0), summary(0, 0.0), summary(2, 0.0), summary(1, 0.0)];
        let out = plain("[expect]\nduplicate_effects = \"<= 0\"\n", &s).unwrap();
        assert!(!out[0].passed);
        assert_eq!(out[0].witness, Some((0, 2)));
        assert_eq!(out[0].measured, "2 in replication 2 (2 of 4 failed)");
        let out = plain("[expect]\nduplicate_effects = \"<= 2\"\n", &s).unwrap();
        assert!(out[0].passed);
        assert_eq!(out[0].measured, "0..2 over 4 replications");
    }

    #[test]
    fn nested_syntax_forms() {
        let text = "[expect]\nretry_latency_s.p90 = \"< 100\"\n[expect.final]\ndlq = 2\n";
        let out = plain(text, &[summary(0, 0.0)]).unwrap();
        let names: Vec<&str> = out.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["retry_latency_s.p90 < 100", "final.dlq == 2"]);
        assert!(out.iter().all(|o| o.passed));
    }

    #[test]
    fn bare_names_resolve_or_fail() {
        let out = plain("[expect]\ndlq = \">= 1\"\n", &[summary(0, 0.0)]).unwrap();
        assert_eq!(out[0].name, "final.dlq >= 1");
        assert!(out[0].passed);
        let out = plain("[expect]\nconcurrent = 2\n", &[summary(0, 0.0)]).unwrap();
        assert_eq!((out[0].name.as_str(), out[0].passed), ("causes.concurrent == 2", false));

        let text = "[expect]\np99 = \"< 1\"\n";
        let e = plain(text, &[summary(0, 0.0)]).unwrap_err();
        assert!(e.message.contains("ambiguous"), "{e}");
        assert!(e.message.contains("retry_latency_s.p99") && e.message.contains("e2e_latency_s.p99"));
        assert_eq!(span_text(text, &e), "p99");

        let text = "[expect]\n\"nope\" = 1\n";
        let e = plain(text, &[summary(0, 0.0)]).unwrap_err();
        assert!(e.message.contains("unknown summary path `nope`"), "{e}");
        assert!(e.message.contains("final.dlq") && e.message.contains("api_calls.send"));
        assert_eq!(span_text(text, &e), "\"nope\"");

        // a path starting with a top-level key is never suffix-matched, and an object is not a value
        let nested = json!({"final": {"dlq": 1}, "idempotency": {"final": {"lost": 3}}});
        let e = plain("[expect]\n\"final.lost\" = 3\n", std::slice::from_ref(&nested)).unwrap_err();
        assert!(e.message.contains("unknown summary path `final.lost`"), "{e}");
        let out = plain("[expect]\n\"lost\" = 3\n", &[nested]).unwrap();
        assert_eq!((out[0].name.as_str(), out[0].passed), ("idempotency.final.lost == 3", true));
        let text = "[expect]\nfinal = 1\n";
        let e = plain(text, &[summary(0, 0.0)]).unwrap_err();
        assert!(e.message.contains("object") && e.message.contains("final.deleted"), "{e}");
        assert_eq!(span_text(text, &e), "final");
    }

    #[test]
    fn type_mismatch_and_missing_in_later_replication() {
        let text = "[expect]\nflag = \"< 1\"\n";
        let e = plain(text, &[summary(0, 0.0)]).unwrap_err();
        assert!(e.message.contains("boolean"), "{e}");
        assert_eq!(span_text(text, &e), "\"< 1\"");
        let text = "[expect]\nsent = true\n";
        assert!(plain(text, &[summary(0, 0.0)]).is_err());
        let e = plain(text, &[json!({"sent": true}), json!({"other": 1})]).unwrap_err();
        assert!(e.message.contains("available: other"), "{e}");
    }

    #[test]
    fn malformed_expectations_have_spans() {
        let cases: &[(&str, &str, &str)] = &[
            ("[expect]\nx = \"~ 5\"\n", "\"~ 5\"", "unknown operator"),
            ("[expect]\nx = \"= 5\"\n", "\"= 5\"", "unknown operator"),
            ("[expect]\nx = \"5\"\n", "\"5\"", "without quotes"),
            ("[expect]\nx = \"< abc\"\n", "\"< abc\"", "non-numeric bound"),
            ("[expect]\nx = \"< inf\"\n", "\"< inf\"", "non-numeric bound"),
            ("[expect]\nx = \"between 5 and 1\"\n", "\"between 5 and 1\"", "empty range"),
            ("[expect]\nx = \"between 5\"\n", "\"between 5\"", "between A and B"),
            ("[expect]\nx = [1, 2]\n", "[1, 2]", "expected a number"),
            ("[expect]\nx = nan\n", "nan", "expected a number"),
            ("[expect]\nx = {}\n", "{}", "empty table"),
            ("[expect]\nx = { mean = \"< 1\", confidence = 1.5 }\n", "1.5", "confidence"),
            ("[expect]\nx = { mean = \"< 1\", confidence = 0 }\n", "0", "confidence"),
            ("[expect]\nx = { mean = \"== 1\" }\n", "\"== 1\"", "supports"),
            ("[expect]\nx = { mean = 1 }\n", "1", "condition string"),
            ("[expect]\nx = { mean = \"< 1\", confdence = 0.9 }\n", "confdence", "unknown key"),
            ("[expect]\nx = { confidence = 0.9 }\n", "{ confidence = 0.9 }", "needs `mean`"),
            ("[expect]\n", "expect", "empty"),
            ("x = 1\n[expect]\n\n[other]\n", "expect", "empty"),
            ("expect = 3\n", "3", "must be a table"),
            ("[expect]\nreplications = 0\n", "0", "positive integer"),
            ("[expect]\nreplications = 2.5\n", "2.5", "positive integer"),
            ("[expect]\n\"a..b\" = 1\n", "\"a..b\"", "empty segment"),
            ("[expect.points]\nx = 1\n", "[expect.points]\nx = 1", "[[expect.points]]"),
            ("[[expect.points]]\nwhere = { a = \"1\" }\n", "[[expect.points]]\nwhere = { a = \"1\" }", "no condition"),
            ("[[expect.points]]\nreplications = 3\nx = 1\n", "replications", "not allowed"),
            ("[[expect.points]]\nwhere = 3\nx = 1\n", "3", "must be a table"),
            ("[[expect.points]]\nwhere = { a = [] }\nx = 1\n", "[]", "empty list"),
            (
                "[[expect.trends]]\nmetric = \"x\"\nalong = \"a\"\ndirection = \"sideways\"\n",
                "\"sideways\"",
                "unknown direction",
            ),
            (
                "[[expect.trends]]\nmetric = \"x\"\nalong = \"a\"\ndirection = \"increasing\"\nfoo = 1\n",
                "foo",
                "unknown key `foo`",
            ),
            (
                "[[expect.trends]]\nmetric = \"x\"\nalong = \"a\"\n",
                "[[expect.trends]]\nmetric = \"x\"\nalong = \"a\"",
                "needs `direction`",
            ),
            ("[[expect.trends]]\nmetric = 3\n", "3", "must be a string"),
            ("[expect]\nx = \n", "\n", "invalid TOML"),
        ];
        for (text, want_span, want_msg) in cases {
            let e = match parse(text) {
                Err(e) => e,
                Ok(v) => panic!("{text:?} parsed: {v:?}"),
            };
            assert!(e.message.contains(want_msg), "{text:?}: {}", e.message);
            assert_eq!(span_text(text, &e), *want_span, "{text:?}: {}", e.message);
        }
    }

    #[test]
    fn no_expect_table_and_line_col() {
        assert_eq!(parse("name = \"x\"\n[queue]\nvt = \"30s\"\n"), Ok(None));
        let text = "name = \"x\"\n[expect]\n  y = \"<< 1\"\n";
        let e = parse(text).unwrap_err();
        assert_eq!(e.line_col(text), Some((3, 7)));
        let e = parsed("[expect]\nreplications = 20\n");
        assert_eq!(e.replications(), Some(20));
        assert!(e.is_empty());
        assert!(!parsed("[expect]\nx = 1\n").is_empty());
    }

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

    #[test]
    fn mean_ci_of_known_sample() {
        let (mean, lo, hi) = mean_ci(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.95);
        // se = sqrt(2.5 / 5), t(0.95, 4) = 2.131847
        let half = 2.131_847 * 0.5f64.sqrt();
        assert!((mean - 3.0).abs() < 1e-12);
        assert!((hi - (3.0 + half)).abs() < 1e-5 && (lo - (3.0 - half)).abs() < 1e-5);
        let (m, lo, hi) = mean_ci(&[2.0], 0.95);
        assert_eq!((m, lo, hi), (2.0, f64::NEG_INFINITY, f64::INFINITY));
        assert!(mean_ci(&[], 0.95).0.is_nan());
        assert_eq!(mean_ci(&[1.0, 3.0], 1.0).2, f64::INFINITY);

        let sample: Vec<Json> = (1..=5).map(|i| json!({ "x": i })).collect();
        let run = |cond: &str| plain(&format!("[expect]\nx = {cond}\n"), &sample).unwrap()[0].clone();
        assert!(run("{ mean = \"< 4.6\" }").passed); // upper bound 4.5075
        assert!(!run("{ mean = \"< 4.4\" }").passed); // mean 3 is below, the bound is not
        assert!(run("{ mean = \"> 1.4\" }").passed); // lower bound 1.4925
        assert!(!run("{ mean = \"> 1.6\" }").passed);
        assert!(!run("{ mean = \">= 1.5\" }").passed);
        assert!(run("{ mean = \">= 1.5\", confidence = 0.9 }").passed); // t(0.9,4)=1.5332 -> 1.916
        assert!(run("{ mean = \"between 1.4 and 4.6\" }").passed);
        assert!(!run("{ mean = \"between 1.6 and 4.6\" }").passed);
        let o = run("{ mean = \"< 4.6\", confidence = 0.95 }");
        assert_eq!(o.name, "mean(x) < 4.6 (95% confidence)");
        assert_eq!(o.measured, "mean 3 (95% upper bound 4.50744, n=5)");
    }

    #[test]
    fn mean_needs_two_replications() {
        let text = "[expect]\nduplicate_rate = { mean = \"< 0.1\" }\n";
        let e = plain(text, &[summary(0, 0.0)]).unwrap_err();
        assert!(e.message.contains("at least 2 replications"), "{e}");
        assert_eq!(span_text(text, &e), "duplicate_rate");
    }

    struct SplitMix(u64);
    impl SplitMix {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// 30 replications, each a duplicate rate over 1000 messages with per-message probability p.
    fn rates(seed: u64, p: f64) -> Vec<Json> {
        let mut rng = SplitMix(seed);
        (0..30)
            .map(|_| {
                let dups = (0..1000).filter(|_| rng.unit() < p).count();
                json!({ "duplicate_rate": dups as f64 / 1000.0 })
            })
            .collect()
    }

    #[test]
    fn statistical_conditions_do_not_flake() {
        let text = "[expect]\nduplicate_rate = { mean = \"< 0.01\", confidence = 0.95 }\n";
        let e = parsed(text);
        let run = |s: &[Json]| {
            let point = PointResult { params: vec![], summaries: s.iter().collect() };
            evaluate(&e, &[point]).unwrap()[0].passed
        };
        for seed in 0..100 {
            assert!(run(&rates(seed, 0.0002)), "seed {seed}: low rate failed");
            assert!(!run(&rates(seed + 1000, 0.05)), "seed {seed}: high rate passed");
        }
    }

    fn grid(summaries: &[Json]) -> Vec<PointResult<'_>> {
        // vt varies fastest; hb in {off, 30s}; each point has two replications
        let mut out = Vec::new();
        for (i, hb) in ["off", "30s"].iter().enumerate() {
            for (j, vt) in ["30s", "60s", "180s"].iter().enumerate() {
                let k = 2 * (3 * i + j);
                out.push(PointResult {
                    params: vec![
                        ("queue.visibility_timeout".into(), vt.to_string()),
                        ("workers.heartbeat.interval".into(), hb.to_string()),
                    ],
                    summaries: vec![&summaries[k], &summaries[k + 1]],
                });
            }
        }
        out
    }

    /// Per point (vt, hb): duplicate_effects and duplicate_rate, twice.
    fn grid_summaries(rates: [f64; 6]) -> Vec<Json> {
        rates.iter().flat_map(|&r| [summary((r * 100.0) as i64, r), summary(0, r)]).collect()
    }

    #[test]
    fn points_where_matching() {
        let s = grid_summaries([0.3, 0.2, 0.1, 0.0, 0.0, 0.0]);
        let points = grid(&s);
        let text = r#"
[expect]
"final.dlq" = 2
[[expect.points]]
where = { "queue.visibility_timeout" = "180s", "workers.heartbeat.interval" = "30s" }
duplicate_effects = 0
[[expect.points]]
where = { "queue.visibility_timeout" = ["30s", "60s"] }
duplicate_effects = 0
[[expect.points]]
where.workers.heartbeat.interval = "off"
duplicate_rate = { mean = "> 0.01" }
"#;
        let out = evaluate(&parsed(text), &points).unwrap();
        assert_eq!(out.len(), 6 + 1 + 4 + 3);
        assert!(out[..6].iter().all(|o| o.passed));
        assert_eq!(
            out[6].name,
            "[queue.visibility_timeout=180s, workers.heartbeat.interval=30s] duplicate_effects == 0"
        );
        assert!(out[6].passed);
        let failed: Vec<_> = out[7..11].iter().map(|o| (o.passed, o.witness)).collect();
        assert_eq!(failed, [(false, Some((0, 0))), (false, Some((1, 0))), (true, None), (true, None)]);
        let means: Vec<bool> = out[11..].iter().map(|o| o.passed).collect();
        assert_eq!(means, [true, true, true]);
    }

    #[test]
    fn where_errors_carry_spans() {
        let s = grid_summaries([0.0; 6]);
        let points = grid(&s);
        let cases = [
            ("[[expect.points]]\nwhere = { \"nope\" = \"1\" }\nx = 1\n", "\"nope\"", "not a swept parameter"),
            (
                "[[expect.points]]\nwhere = { \"queue.visibility_timeout\" = \"3m\" }\nduplicate_effects = 0\n",
                "\"3m\"",
                "30s, 60s, 180s",
            ),
            (
                "[[expect.trends]]\nmetric = \"duplicate_rate\"\nalong = \"queue.vt\"\ndirection = \"increasing\"\n",
                "\"queue.vt\"",
                "not a swept parameter",
            ),
            (
                "[[expect.trends]]\nmetric = \"p99\"\nalong = \"queue.visibility_timeout\"\ndirection = \"increasing\"\n",
                "\"p99\"",
                "ambiguous",
            ),
        ];
        for (text, want_span, want_msg) in cases {
            let e = evaluate(&parsed(text), &points).unwrap_err();
            assert!(e.message.contains(want_msg), "{text}: {e}");
            assert_eq!(span_text(text, &e), want_span, "{text}");
        }
        let text = "[[expect.points]]\nwhere = { \"a\" = \"1\" }\nx = 1\n";
        let e = plain(text, &[summary(0, 0.0)]).unwrap_err();
        assert!(e.message.contains("not a sweep"), "{e}");
    }

    fn trend(direction: &str, points: &[PointResult]) -> Vec<(String, bool)> {
        let text = format!(
            "[[expect.trends]]\nmetric = \"duplicate_rate\"\nalong = \"queue.visibility_timeout\"\ndirection = \"{direction}\"\n"
        );
        let out = evaluate(&parsed(&text), points).unwrap();
        out.into_iter().map(|o| (o.measured, o.passed)).collect()
    }

    #[test]
    fn trends_per_direction_and_group() {
        // group hb=off strictly decreasing; group hb=30s constant
        let s = grid_summaries([0.3, 0.2, 0.1, 0.0, 0.0, 0.0]);
        let points = grid(&s);
        let off = "30s: 0.3, 60s: 0.2, 180s: 0.1".to_string();
        let on = "30s: 0, 60s: 0, 180s: 0".to_string();
        assert_eq!(trend("decreasing", &points), [(off.clone(), true), (on.clone(), false)]);
        assert_eq!(trend("non_increasing", &points), [(off.clone(), true), (on.clone(), true)]);
        assert_eq!(trend("increasing", &points), [(off.clone(), false), (on.clone(), false)]);
        assert_eq!(trend("non-decreasing", &points), [(off.clone(), false), (on.clone(), true)]);

        // points listed with the other parameter varying fastest: groups are still found and
        // each is ordered along the grid order of `along`
        let s = grid_summaries([0.1, 0.2, 0.3, 0.3, 0.2, 0.1]);
        let mut by_hb: Vec<Option<PointResult>> = grid(&s).into_iter().map(Some).collect();
        let points: Vec<PointResult> = [0, 3, 1, 4, 2, 5].iter().filter_map(|&i| by_hb[i].take()).collect();
        let text = "[[expect.trends]]\nmetric = \"duplicate_rate\"\nalong = \"queue.visibility_timeout\"\ndirection = \"increasing\"\n";
        let out = evaluate(&parsed(text), &points).unwrap();
        assert_eq!(
            out[0].name,
            "[workers.heartbeat.interval=off] duplicate_rate increasing along queue.visibility_timeout"
        );
        assert_eq!(out[0].measured, "30s: 0.1, 60s: 0.2, 180s: 0.3");
        assert_eq!(out[1].measured, "30s: 0.3, 60s: 0.2, 180s: 0.1");
        assert!(out[0].passed && !out[1].passed);
        let restricted = format!("{text}where = {{ \"workers.heartbeat.interval\" = \"off\" }}\n");
        let out = evaluate(&parsed(&restricted), &grid(&s)).unwrap();
        assert_eq!(out.len(), 1);
        assert!(out[0].passed);
    }

    #[test]
    fn junit_escapes_and_counts() {
        let outcome = |name: &str, passed: bool| Outcome {
            name: name.to_string(),
            measured: "5 <&\">".to_string(),
            bound: "< 1".to_string(),
            passed,
            witness: (!passed).then_some((1, 2)),
        };
        let xml = junit_xml(&[
            ("a<&\"b".to_string(), vec![outcome("x < 1 & \"y\"", false), outcome("ok", true)]),
            ("second".to_string(), vec![outcome("z\u{1}", false)]),
        ]);
        assert!(xml.contains("<testsuites name=\"dupsim check\" tests=\"3\" failures=\"2\""), "{xml}");
        assert!(xml.contains("<testsuite name=\"a&lt;&amp;&quot;b\" tests=\"2\" failures=\"1\""), "{xml}");
        assert!(xml.contains("name=\"x &lt; 1 &amp; &quot;y&quot;\""), "{xml}");
        assert!(xml.contains("message=\"measured 5 &lt;&amp;&quot;&gt;, expected &lt; 1\""), "{xml}");
        assert!(xml.contains("witness: point 1, replication 2</failure>"), "{xml}");
        assert!(xml.contains("<testcase classname=\"a&lt;&amp;&quot;b\" name=\"ok\"/>"), "{xml}");
        assert!(xml.contains("name=\"z\u{FFFD}\""), "{xml}");
        assert_eq!(xml.matches("<failure").count(), 2);
        assert_eq!(
            xml,
            junit_xml(&[
                ("a<&\"b".to_string(), vec![outcome("x < 1 & \"y\"", false), outcome("ok", true)]),
                ("second".to_string(), vec![outcome("z\u{1}", false)]),
            ])
        );
    }
}
