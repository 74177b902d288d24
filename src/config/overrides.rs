//! `--set path=value` overrides: parsing the flag, setting the value in the
//! scenario's TOML tree by dotted path (through arrays of tables by index,
//! by `name`, or in every element), and comparing paths by their non-index
//! segments so that an error can name the flag that set a value.

use crate::error::InputError;

/// A `--set path=value` override.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub path: String,
    pub value: String,
}

impl Override {
    /// Parse `path=value`.
    pub fn parse(flag: &str) -> Result<Override, InputError> {
        match flag.split_once('=') {
            Some((p, v)) if !p.trim().is_empty() => Ok(Override { path: p.trim().into(), value: v.trim().into() }),
            _ => {
                Err(InputError::flag(format!("--set {flag}"), "expected path=value, e.g. queue.visibility_timeout=45s"))
            }
        }
    }

    pub(super) fn flag(&self) -> String {
        format!("--set {}={}", self.path, self.value)
    }
}

/// Set `o.path` in the TOML tree. In an array of tables (`workers`), the next
/// segment may be an index (`workers.0.count`), a `name` (`workers.B.count`),
/// or neither, and then the change applies to every element.
pub fn apply_override(table: &mut toml::Table, o: &Override) -> Result<(), InputError> {
    let value = parse_override_value(&o.value);
    let parts: Vec<&str> = o.path.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(InputError::flag(o.flag(), "empty segment in the dotted path"));
    }
    set_in_table(table, &parts, &value).map_err(|m| InputError::flag(o.flag(), m))
}

fn parse_override_value(text: &str) -> toml::Value {
    match toml::from_str::<toml::Table>(&format!("v = {text}")) {
        Ok(mut t) => t.remove("v").unwrap_or_else(|| toml::Value::String(text.into())),
        Err(_) => toml::Value::String(text.into()),
    }
}

fn set_in_table(table: &mut toml::Table, parts: &[&str], value: &toml::Value) -> Result<(), String> {
    let (first, rest) = (parts[0], &parts[1..]);
    if rest.is_empty() {
        table.insert(first.into(), value.clone());
        return Ok(());
    }
    let entry = table.entry(first).or_insert_with(|| toml::Value::Table(toml::Table::new()));
    set_in_value(entry, first, rest, value)
}

fn set_in_value(target: &mut toml::Value, name: &str, rest: &[&str], value: &toml::Value) -> Result<(), String> {
    match target {
        toml::Value::Table(t) => set_in_table(t, rest, value),
        toml::Value::Array(items) => {
            let selector = rest[0];
            if let Ok(i) = selector.parse::<usize>() {
                let len = items.len();
                let item = items.get_mut(i).ok_or(format!("`{name}` has {len} entries; index {i} is out of range"))?;
                return descend(item, name, &rest[1..], value);
            }
            let by_name = items.iter().position(|v| v.get("name").and_then(|n| n.as_str()) == Some(selector));
            match by_name {
                Some(i) => descend(&mut items[i], name, &rest[1..], value),
                None => items.iter_mut().try_for_each(|item| descend(item, name, rest, value)),
            }
        }
        _ => Err(format!("`{name}` is a value, not a table; cannot set `{}` inside it", rest.join("."))),
    }
}

fn descend(item: &mut toml::Value, name: &str, rest: &[&str], value: &toml::Value) -> Result<(), String> {
    if rest.is_empty() {
        *item = value.clone();
        Ok(())
    } else {
        set_in_value(item, name, rest, value)
    }
}

/// `workers[1].x` and `workers.1.x` and `workers.B.x` compare by their
/// non-index segments only.
pub fn canonical(path: &str) -> String {
    path.replace('[', ".")
        .replace(']', "")
        .split('.')
        .filter(|s| !s.is_empty() && s.parse::<usize>().is_err())
        .collect::<Vec<_>>()
        .join(".")
}
