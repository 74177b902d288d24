//! Scenario files: TOML text to a checked [`Scenario`].
//!
//! Three layers: `RawScenario` (serde, unknown keys rejected, durations
//! parsed), `--set` overrides applied to the TOML tree by dotted path, and
//! `resolve` (defaults, ranges, cross-references). Every error names the file,
//! line and column of the offending value, or the `--set` flag that set it.
//!
//! This module holds the entry points: [`Source`] (load a file, resolve it
//! with overrides, locate a value) and [`Override`]. The parts:
//! - `schema`: the raw serde structs of the TOML file (`RawScenario`, ...).
//! - `overrides`: `--set path=value` applied to the TOML tree by dotted path.
//! - `resolve`: raw values to the `Scenario`: defaults, ranges, cross-references.
//! - `context`: `Ctx`, which locates every resolution error and holds the
//!   range checks the resolvers share.
//! - `dist`: latency distributions, their TOML forms and their resolution.
//! - `topology`, `functions`, `nats`, `pubsub`: the settings of queues and
//!   topics, Lambda functions, NATS and Pub/Sub, schema and resolution each.

use crate::error::InputError;
use crate::scenario::Scenario;
use crate::spans::Item;
use context::Ctx;
use resolve::resolve;
use schema::RawScenario;
use serde::Deserialize;
use std::ops::Range;
use std::path::{Path, PathBuf};

mod context;
mod dist;
mod functions;
mod nats;
mod overrides;
mod pubsub;
mod resolve;
mod schema;
mod topology;

pub use overrides::{apply_override, canonical, Override};

/// A scenario file as read: its text, its TOML tree, and where each value stands.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
    pub table: toml::Table,
    spans: Item,
}

impl Source {
    /// Read and parse a scenario file (syntax and schema are checked here).
    pub fn load(path: &Path) -> Result<Source, InputError> {
        let text = std::fs::read_to_string(path).map_err(|e| InputError::path(path, format!("cannot read: {e}")))?;
        Source::from_text(path, text)
    }

    pub fn from_text(path: &Path, text: String) -> Result<Source, InputError> {
        let toml_err = |e: toml::de::Error| {
            let span = refine_span(&text, e.span(), e.message());
            InputError::at_span(path, &text, span, crate::wording::humanize(e.message()))
        };
        let table: toml::Table = toml::from_str(&text).map_err(toml_err)?;
        let spans = Item::parse(&text).map_err(toml_err)?;
        let _: RawScenario = toml::from_str(&text).map_err(toml_err)?;
        Ok(Source { path: path.to_path_buf(), text, table, spans })
    }

    /// The scenario's name (for reports), before resolution.
    pub fn name(&self) -> String {
        match self.table.get("name") {
            Some(toml::Value::String(s)) => s.clone(),
            _ => self.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        }
    }

    /// Resolve with overrides (and an optional seed override).
    pub fn resolve(&self, overrides: &[Override], seed: Option<u64>) -> Result<Scenario, InputError> {
        let mut table = self.table.clone();
        for o in overrides {
            apply_override(&mut table, o)?;
        }
        let raw: RawScenario = if overrides.is_empty() {
            toml::from_str(&self.text).map_err(|e| self.span_error(e.span(), crate::wording::humanize(e.message())))?
        } else {
            RawScenario::deserialize(toml::Value::Table(table)).map_err(|e| {
                let flags: Vec<String> = overrides.iter().map(Override::flag).collect();
                InputError::flag(flags.join(" "), crate::wording::humanize(e.message()))
            })?
        };
        let ctx = Ctx { source: self, overrides };
        let mut scenario = resolve(&ctx, raw)?;
        if let Some(seed) = seed {
            scenario.seed = seed;
        }
        Ok(scenario)
    }

    fn span_error(&self, span: Option<Range<usize>>, message: String) -> InputError {
        InputError::at_span(&self.path, &self.text, span, message)
    }

    /// The file's TOML tree with the span of every key and value.
    pub(crate) fn spans(&self) -> &Item {
        &self.spans
    }

    /// The span of the value at a dotted path such as `workers[1].receive.max`.
    pub fn span_of(&self, path: &str) -> Option<Range<usize>> {
        self.spans.lookup(path)?.span.clone()
    }

    /// An input error at the value at `path`.
    pub fn error_at(&self, path: &str, message: impl Into<String>) -> InputError {
        self.span_error(self.span_of(path).or_else(|| self.span_of(parent(path))), message.into())
    }
}

/// toml reports an unknown field at its table; point at the key itself.
fn refine_span(text: &str, span: Option<Range<usize>>, message: &str) -> Option<Range<usize>> {
    let span = span?;
    let Some(name) = message.strip_prefix("unknown field `").and_then(|m| m.split('`').next()) else {
        return Some(span);
    };
    let region = &text[span.start.min(text.len())..span.end.min(text.len())];
    let mut offset = 0;
    for line in region.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if trimmed.strip_prefix(name).is_some_and(|r| r.trim_start().starts_with('=')) {
            let start = span.start + offset + indent;
            return Some(start..start + name.len());
        }
        if let Some(i) = line.find(&format!("{name} =")).or_else(|| line.find(&format!("{name}="))) {
            let start = span.start + offset + i;
            return Some(start..start + name.len());
        }
        offset += line.len();
    }
    Some(span)
}

fn parent(path: &str) -> &str {
    path.rfind(['.', '[']).map_or("", |i| &path[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::resolve::DAY;
    use crate::duration::NS_PER_S;
    use crate::error::Location;
    use crate::scenario::*;
    const MINIMAL: &str = r#"
name = "t"
[run]
messages = 10
[producer]
arrival = { kind = "poisson", rate = 1.0 }
[[workers]]
name = "w"
count = 2
[handler]
duration = "1s"
"#;

    fn load(text: &str) -> Result<Source, InputError> {
        Source::from_text(Path::new("s.toml"), text.to_string())
    }

    #[test]
    fn minimal_scenario_gets_defaults() {
        let s = load(MINIMAL).unwrap().resolve(&[], None).unwrap();
        assert_eq!(s.queue().visibility_timeout_ns, 30 * NS_PER_S);
        assert_eq!(s.queue().retention_ns, 4 * DAY);
        assert_eq!(s.workers[0].receive.wait_ns, 20 * NS_PER_S);
        assert_eq!(s.queue().delete_policy, DeletePolicy::AnyHandle);
        assert_eq!(s.queue().change_visibility_policy, ChangeVisibilityPolicy::AnyHandle);
        assert_eq!(s.queue().visible_order, VisibleOrder::OldestSent);
        assert!(matches!(s.workers[0].heartbeat, Heartbeat::None));
    }

    #[test]
    fn unknown_key_is_located() {
        let text = MINIMAL.replace("count = 2", "count = 2\ncolour = \"red\"");
        let e = load(&text).unwrap_err();
        assert!(e.message.contains("unknown field `colour`"), "{e}");
        assert!(matches!(e.location, Location::File { line: 10, column: 1, .. }), "{e:?}");
    }

    #[test]
    fn out_of_range_vt_is_located_at_its_value() {
        let text = MINIMAL.replace("[[workers]]", "[queue]\nvisibility_timeout = \"13h\"\n[[workers]]");
        let e = load(&text).unwrap().resolve(&[], None).unwrap_err();
        assert!(e.message.contains("out of range"), "{e}");
        assert!(matches!(e.location, Location::File { line: 8, column: 22, .. }), "{e:?}");
    }

    #[test]
    fn overrides_set_values_and_errors_name_the_flag() {
        let src = load(MINIMAL).unwrap();
        let set = |s: &str| Override::parse(s).unwrap();
        let s = src.resolve(&[set("queue.visibility_timeout=45s"), set("workers.concurrency=4")], None).unwrap();
        assert_eq!(s.queue().visibility_timeout_ns, 45 * NS_PER_S);
        assert_eq!(s.workers[0].concurrency, 4);
        let s = src.resolve(&[set("workers.w.heartbeat.interval=10s"), set("workers.0.heartbeat.extend=20s")], None);
        assert!(matches!(s.unwrap().workers[0].heartbeat, Heartbeat::Fixed { .. }));
        let e = src.resolve(&[set("queue.visibility_timeout=-3s")], None).unwrap_err();
        assert!(matches!(&e.location, Location::Flag(f) if f.contains("visibility_timeout")), "{e:?}");
        let e = src.resolve(&[set("queue.colour=1")], None).unwrap_err();
        assert!(e.message.contains("unknown field"), "{e}");
    }

    #[test]
    fn span_lookup_follows_arrays() {
        let src = load(MINIMAL).unwrap();
        let span = src.span_of("workers[0].count").unwrap();
        assert_eq!(&src.text[span], "2");
    }
}
