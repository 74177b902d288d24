//! The resolution context shared by every resolver: the source file and the
//! `--set` overrides, so that an error about a value names the file, line
//! and column where it is written, or the flag that set it (or a sibling or
//! parent key of it); and the range checks (probability, duration range,
//! count, positive number) that fail with such an error.

use super::{canonical, parent, Override, Source};
use crate::duration::{self, Nanos};
use crate::error::{InputError, Location};

pub(super) struct Ctx<'a> {
    pub(super) source: &'a Source,
    pub(super) overrides: &'a [Override],
}

impl Ctx<'_> {
    /// An error about the value at `path`: located in the file, or at the
    /// `--set` flag that changed it.
    /// A value the file does not write, but that a `--set` of a sibling
    /// or parent key decides (`--set network.loss=2` sets
    /// `network.request_loss`), is blamed on that flag too.
    pub(super) fn err(&self, path: &str, message: impl Into<String>) -> InputError {
        let message = message.into();
        let canon = canonical(path);
        for o in self.overrides {
            let op = canonical(&o.path);
            if canon.starts_with(&op) || op.starts_with(&canon) {
                return InputError::new(Location::Flag(o.flag()), format!("{path}: {message}"));
            }
        }
        if self.source.span_of(path).is_none() {
            let table = canonical(parent(path));
            let near = self.overrides.iter().rev().find(|o| {
                let op = canonical(&o.path);
                op.starts_with(&table) && (table.is_empty() || op[table.len()..].starts_with('.'))
            });
            if let Some(o) = near.filter(|_| !table.is_empty()) {
                return InputError::new(Location::Flag(o.flag()), format!("{path}: {message}"));
            }
        }
        let e = self.source.error_at(path, message.clone());
        InputError::new(e.location, format!("{path}: {message}"))
    }

    pub(super) fn prob(&self, path: &str, v: Option<f64>, default: f64) -> Result<f64, InputError> {
        let p = v.unwrap_or(default);
        if (0.0..=1.0).contains(&p) {
            Ok(p)
        } else {
            Err(self.err(path, format!("{p} is not a probability; expected a number from 0 to 1")))
        }
    }

    /// A duration from `lo` to `hi`; a `hi` at or past the longest duration
    /// a file can write is not shown ("expected at least 1s").
    pub(super) fn range(&self, path: &str, v: Nanos, lo: Nanos, hi: Nanos) -> Result<Nanos, InputError> {
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else if hi >= duration::MAX_NS {
            Err(self.err(
                path,
                format!(
                    "{} is out of range; expected at least {}",
                    duration::format_human(v),
                    duration::format_human(lo)
                ),
            ))
        } else {
            Err(self.err(
                path,
                format!(
                    "{} is out of range; expected {} to {}",
                    duration::format_human(v),
                    duration::format_human(lo),
                    duration::format_human(hi)
                ),
            ))
        }
    }

    pub(super) fn count(&self, path: &str, v: Option<u64>, default: u64, lo: u64, hi: u64) -> Result<u64, InputError> {
        let n = v.unwrap_or(default);
        if (lo..=hi).contains(&n) {
            Ok(n)
        } else if hi == u64::MAX {
            Err(self.err(path, format!("{n} is out of range; expected at least {lo}")))
        } else {
            Err(self.err(path, format!("{n} is out of range; expected {lo} to {hi}")))
        }
    }

    pub(super) fn positive(&self, path: &str, v: f64) -> Result<f64, InputError> {
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            Err(self.err(path, format!("{v} must be a positive number")))
        }
    }
}
