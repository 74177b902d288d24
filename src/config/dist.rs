//! Distributions in a scenario file (handler durations, network and store
//! latencies): their TOML forms, a bare duration for a constant or a table
//! with `kind` (constant, sequence, uniform, exponential, lognormal, pareto,
//! empirical from a CSV column), and their resolution into [`Dist`] with the
//! parameters checked.

use super::context::Ctx;
use super::schema::Dur;
use crate::dist::Dist;
use crate::duration;
use crate::error::InputError;
use crate::observed::Unit;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::path::Path;

/// A distribution: a table with `kind`, or a bare duration for a constant.
#[derive(Debug, Clone)]
pub(super) enum RawDist {
    Tagged(RawDistKind),
    Constant(Dur),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum RawDistKind {
    Constant {
        value: Dur,
    },
    Sequence {
        values: Vec<Dur>,
    },
    Uniform {
        low: Dur,
        high: Dur,
    },
    Exponential {
        mean: Dur,
    },
    Lognormal {
        median: Dur,
        p99: Dur,
    },
    Pareto {
        scale: Dur,
        shape: f64,
    },
    /// A CSV file (relative to the scenario) whose `column` (default the
    /// first) holds observed latencies in seconds.
    Empirical {
        file: String,
        column: Option<String>,
    },
}

impl<'de> Deserialize<'de> for RawDist {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawDist;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration (\"20s\") or a table such as { kind = \"lognormal\", median = \"20s\", p99 = \"45s\" } with kind constant, sequence, uniform, exponential, lognormal, pareto or empirical")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RawDist, E> {
                duration::parse(s).map(|n| RawDist::Constant(Dur(n))).map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawDist, A::Error> {
                RawDistKind::deserialize(de::value::MapAccessDeserializer::new(map)).map(RawDist::Tagged)
            }
        }
        d.deserialize_any(V)
    }
}

pub(super) fn resolve_dist(ctx: &Ctx, path: &str, d: &RawDist) -> Result<Dist, InputError> {
    let kind = match d {
        RawDist::Constant(v) => return Ok(Dist::Constant(v.0)),
        RawDist::Tagged(k) => k,
    };
    Ok(match kind {
        RawDistKind::Constant { value } => Dist::Constant(value.0),
        RawDistKind::Sequence { values } => {
            if values.is_empty() {
                return Err(ctx.err(&format!("{path}.values"), "a sequence needs at least one value"));
            }
            Dist::Sequence { values: values.iter().map(|v| v.0).collect(), next: 0 }
        }
        RawDistKind::Uniform { low, high } => {
            if low.0 > high.0 {
                return Err(ctx.err(&format!("{path}.low"), "`low` must not exceed `high`"));
            }
            Dist::Uniform { low: low.0, high: high.0 }
        }
        RawDistKind::Exponential { mean } => {
            if mean.0 == 0 {
                return Err(ctx.err(&format!("{path}.mean"), "the mean must be positive"));
            }
            Dist::Exponential { mean_s: duration::as_secs_f64(mean.0) }
        }
        RawDistKind::Lognormal { median, p99 } => {
            if median.0 == 0 || p99.0 <= median.0 {
                return Err(ctx.err(&format!("{path}.p99"), "a lognormal needs 0 < median < p99"));
            }
            Dist::lognormal(median.0, p99.0)
        }
        RawDistKind::Pareto { scale, shape } => {
            if scale.0 == 0 {
                return Err(ctx.err(&format!("{path}.scale"), "the scale must be positive"));
            }
            Dist::Pareto {
                scale_s: duration::as_secs_f64(scale.0),
                shape: ctx.positive(&format!("{path}.shape"), *shape)?,
            }
        }
        RawDistKind::Empirical { file, column } => {
            let base = ctx.source.path.parent().unwrap_or(Path::new("."));
            let sorted = crate::observed::read_csv_column(&base.join(file), column.as_deref(), Some(Unit::Seconds))
                .map_err(|e| ctx.err(&format!("{path}.file"), e.to_string()))?;
            Dist::Empirical { sorted }
        }
    })
}
