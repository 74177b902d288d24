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
//!
//! The parts: this module holds the public types and the parsed model of the table; `parse`
//! reads the `[expect]` table into it, `evaluate` checks it against run summaries,
//! `student_t` gives the confidence bounds of a mean, `junit` writes outcomes as JUnit XML.

mod evaluate;
mod junit;
mod parse;
mod student_t;
#[cfg(test)]
mod tests;

pub use evaluate::evaluate;
pub use junit::junit_xml;
pub use parse::parse;
pub use student_t::mean_ci;

use serde_json::Value as Json;
use std::cmp::Ordering;
use std::fmt;
use std::ops::Range;

type Span = Range<usize>;

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
// Shared by parsing and evaluation
// ---------------------------------------------------------------------------------------------

/// A summary path: `prefix.name`, or `name` at the top level.
fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Exact between integers, as floats otherwise (`None` for NaN).
fn cmp_num(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => Some(x.cmp(&y)),
        _ => a.f64().partial_cmp(&b.f64()),
    }
}

/// Equal within the relative tolerance `REL_TOL`.
fn floats_equal(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= REL_TOL * a.abs().max(b.abs())
}
