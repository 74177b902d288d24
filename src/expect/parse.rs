//! Parsing of a scenario's `[expect]` table into the model of `expect` (conditions, point
//! rules, trends), with the byte span of every key and value so that a mistake is reported at
//! its file:line:column. The syntax is in the doc comment of `expect`.

use super::student_t::open_unit;
use super::{
    cmp_num, err, join, Bound, Condition, Direction, Expect, ExpectError, Filter, Kind, Num, Op, PointRule, Result,
    Selector, Span, Test, Trend,
};
use crate::spans::{Item, Key, Node};
use std::cmp::Ordering;

const DEFAULT_CONFIDENCE: f64 = 0.95;

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
