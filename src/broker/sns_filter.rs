//! SNS subscription filter policies on message attributes (docs/model.md, "SNS";
//! docs.aws.amazon.com/sns/latest/dg/sns-subscription-filter-policies.html).
//!
//! Rules followed: a policy matches when every key matches (AND); a key
//! matches when any of its values or conditions matches (OR). Conditions:
//! exact string or number, `prefix`, `suffix`, `equals-ignore-case`,
//! `anything-but` (a list of values), `numeric` ranges, and `exists`.
//! Every condition but `exists: false` needs the attribute to be present;
//! `exists: false` matches an absent attribute only when the message has at
//! least one attribute (an empty attribute set matches no policy key).
//! A string never matches a number condition and the other way round.
//!
//! The producer's attributes are drawn here too: from the logical key by a
//! stateless hash, so a retried publish carries the same attributes.

use crate::rng::hash_unit;
use crate::scenario::{Attribute, AttributeValues, Compare, Condition, FilterKey, FilterValue};

/// Salt of the attribute hashes (mixed with the attribute's index).
const ATTRIBUTE_SALT: u64 = 0x6174_7472_0000;

/// The value of one attribute of one message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Absent,
    Str(&'a str),
    Num(f64),
}

/// Attribute `i` of the message with logical key `key`.
pub fn attribute_value(seed: u64, i: usize, a: &Attribute, key: u64) -> Value<'_> {
    let salt = ATTRIBUTE_SALT ^ ((i as u64) << 1);
    if a.present < 1.0 && hash_unit(seed, salt, key) >= a.present {
        return Value::Absent;
    }
    let u = hash_unit(seed, salt | 1, key);
    match &a.values {
        AttributeValues::Choice(cumulative) => {
            let j = cumulative.partition_point(|(_, c)| *c <= u).min(cumulative.len() - 1);
            Value::Str(&cumulative[j].0)
        }
        AttributeValues::Uniform { low, high } => Value::Num(low + (high - low) * u),
    }
}

/// Whether the message with `key` passes `filter` (an empty filter passes all).
pub fn matches(filter: &[FilterKey], attributes: &[Attribute], seed: u64, key: u64) -> bool {
    if filter.is_empty() {
        return true;
    }
    let any_present = || (0..attributes.len()).any(|i| attribute_value(seed, i, &attributes[i], key) != Value::Absent);
    filter.iter().all(|k| {
        let v = attribute_value(seed, k.attribute, &attributes[k.attribute], key);
        k.conditions.iter().any(|c| condition_holds(c, v, any_present))
    })
}

/// One condition against one attribute value.
pub fn condition_holds(c: &Condition, v: Value, any_present: impl FnOnce() -> bool) -> bool {
    match (c, v) {
        (Condition::Exists(false), Value::Absent) => any_present(),
        (Condition::Exists(want), v) => *want && v != Value::Absent,
        (_, Value::Absent) => false,
        (Condition::Exact(x), v) => equal(x, v),
        (Condition::Prefix(p), Value::Str(s)) => s.starts_with(p.as_str()),
        (Condition::Suffix(p), Value::Str(s)) => s.ends_with(p.as_str()),
        (Condition::EqualsIgnoreCase(p), Value::Str(s)) => s.eq_ignore_ascii_case(p),
        (Condition::AnythingBut(list), v) => !list.iter().any(|x| equal(x, v)),
        (Condition::Numeric(pairs), Value::Num(n)) => pairs.iter().all(|&(cmp, bound)| match cmp {
            Compare::Lt => n < bound,
            Compare::Le => n <= bound,
            Compare::Eq => n == bound,
            Compare::Ge => n >= bound,
            Compare::Gt => n > bound,
        }),
        _ => false,
    }
}

fn equal(x: &FilterValue, v: Value) -> bool {
    match (x, v) {
        (FilterValue::Str(a), Value::Str(b)) => a == b,
        (FilterValue::Num(a), Value::Num(b)) => a == &b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Condition::*;

    fn s(x: &str) -> FilterValue {
        FilterValue::Str(x.into())
    }

    /// The documented matching table, one row per rule.
    #[test]
    fn filter_policy_matching_table() {
        let yes = || true;
        let no_attrs = || false;
        let rows: &[(Condition, Value, bool)] = &[
            (Exact(s("order.created")), Value::Str("order.created"), true),
            (Exact(s("order.created")), Value::Str("order.updated"), false),
            (Exact(s("order.created")), Value::Absent, false),
            (Exact(FilterValue::Num(100.0)), Value::Num(100.0), true),
            (Exact(FilterValue::Num(100.0)), Value::Str("100"), false),
            (Prefix("order.".into()), Value::Str("order.updated"), true),
            (Prefix("order.".into()), Value::Str("refund.created"), false),
            (Suffix(".created".into()), Value::Str("refund.created"), true),
            (EqualsIgnoreCase("ORDER.CREATED".into()), Value::Str("order.created"), true),
            (AnythingBut(vec![s("order.updated")]), Value::Str("order.created"), true),
            (AnythingBut(vec![s("order.updated")]), Value::Str("order.updated"), false),
            (AnythingBut(vec![s("order.updated")]), Value::Absent, false),
            (Numeric(vec![(Compare::Ge, 0.0), (Compare::Lt, 100.0)]), Value::Num(99.5), true),
            (Numeric(vec![(Compare::Ge, 0.0), (Compare::Lt, 100.0)]), Value::Num(100.0), false),
            (Numeric(vec![(Compare::Gt, 300.0)]), Value::Num(300.0), false),
            (Numeric(vec![(Compare::Eq, 5.0)]), Value::Str("5"), false),
            (Exists(true), Value::Str("x"), true),
            (Exists(true), Value::Absent, false),
            (Exists(false), Value::Str("x"), false),
        ];
        for (c, v, want) in rows {
            assert_eq!(condition_holds(c, *v, yes), *want, "{c:?} on {v:?}");
        }
        assert!(condition_holds(&Exists(false), Value::Absent, yes), "absent key, other attributes present");
        assert!(!condition_holds(&Exists(false), Value::Absent, no_attrs), "an empty attribute set matches nothing");
    }

    fn event_type() -> Attribute {
        Attribute {
            name: "event_type".into(),
            present: 1.0,
            values: AttributeValues::Choice(vec![("order.created".into(), 0.7), ("order.updated".into(), 1.0)]),
        }
    }

    #[test]
    fn and_across_keys_or_within_a_key() {
        let amount = Attribute {
            name: "amount".into(),
            present: 1.0,
            values: AttributeValues::Uniform { low: 0.0, high: 500.0 },
        };
        let attrs = vec![event_type(), amount];
        let created_only = vec![FilterKey { attribute: 0, conditions: vec![Exact(s("order.created"))] }];
        let either =
            vec![FilterKey { attribute: 0, conditions: vec![Exact(s("order.created")), Exact(s("order.updated"))] }];
        let big_created = vec![
            FilterKey { attribute: 0, conditions: vec![Exact(s("order.created"))] },
            FilterKey { attribute: 1, conditions: vec![Numeric(vec![(Compare::Ge, 250.0)])] },
        ];
        let n = 20_000u64;
        let count = |f: &[FilterKey]| (0..n).filter(|&k| matches(f, &attrs, 3, k)).count() as f64 / n as f64;
        let sd = |p: f64| 4.0 * (p * (1.0 - p) / n as f64).sqrt();
        assert_eq!(count(&either), 1.0, "OR within a key covers every value");
        assert!((count(&created_only) - 0.7).abs() < sd(0.7));
        assert!((count(&big_created) - 0.35).abs() < sd(0.35), "AND across independent keys: 0.7 x 0.5");
        assert!(matches(&[], &attrs, 3, 1), "no policy: everything");
    }

    #[test]
    fn attributes_depend_on_the_key_only() {
        let a = event_type();
        for k in 0..100 {
            assert_eq!(attribute_value(9, 0, &a, k), attribute_value(9, 0, &a, k));
        }
        let half = Attribute { present: 0.5, ..event_type() };
        let absent = (0..10_000).filter(|&k| attribute_value(1, 0, &half, k) == Value::Absent).count();
        assert!((4_600..5_400).contains(&absent), "{absent}");
    }
}
