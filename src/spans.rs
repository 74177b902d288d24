//! A TOML tree that keeps the byte span of every key and value, so errors
//! found after parsing (ranges, cross-references, expectations) can name the
//! file, line and column. Used by `config`, `expect` and `sweep/grid.rs`.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::ops::Range;

pub(crate) type Span = Range<usize>;

// toml 0.8 reports spans through serde_spanned's private protocol: asked for a struct with these
// names, it answers with a map {start, end, value}. We speak it directly rather than using
// `toml::Spanned`, because toml has no span for the implicit tables of dotted keys and then
// answers with the plain value, on which `toml::Spanned` fails; our visitors accept both.
const SPANNED_NAME: &str = "$__serde_spanned_private_Spanned";
const SPANNED_START: &str = "$__serde_spanned_private_start";
const SPANNED_END: &str = "$__serde_spanned_private_end";
const SPANNED_VALUE: &str = "$__serde_spanned_private_value";
const SPANNED_FIELDS: &[&str] = &[SPANNED_START, SPANNED_END, SPANNED_VALUE];
const DATETIME_KEY: &str = "$__toml_private_datetime";

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime(String),
    Array(Vec<Item>),
    Table(Vec<(Key, Item)>),
}

impl Node {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Node::Str(_) => "a string",
            Node::Int(_) => "an integer",
            Node::Float(_) => "a float",
            Node::Bool(_) => "a boolean",
            Node::Datetime(_) => "a datetime",
            Node::Array(_) => "an array",
            Node::Table(_) => "a table",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) node: Node,
    pub(crate) span: Option<Span>,
}

#[derive(Debug, Clone)]
pub(crate) struct Key {
    pub(crate) name: String,
    pub(crate) span: Option<Span>,
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(Key { name: v.to_string(), span: None })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
        let (mut start, mut end, mut name) = (None, None, String::new());
        while let Some(field) = map.next_key::<String>()? {
            match field.as_str() {
                SPANNED_START => start = Some(map.next_value::<usize>()?),
                SPANNED_END => end = Some(map.next_value::<usize>()?),
                _ => name = map.next_value::<String>()?,
            }
        }
        let span = start.zip(end).map(|(s, e)| s..e);
        Ok(Key { name, span })
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct(SPANNED_NAME, SPANNED_FIELDS, KeyVisitor)
    }
}

/// Reads table entries (after an optional already-read first key); a value without a span of
/// its own (implicit table of a dotted key) takes its key's span.
fn read_table<'de, A: MapAccess<'de>>(map: &mut A, first: Option<Key>) -> Result<Node, A::Error> {
    let mut entries = Vec::new();
    let mut pending = first;
    loop {
        let key = match pending.take() {
            Some(k) => k,
            None => match map.next_key::<Key>()? {
                Some(k) => k,
                None => break,
            },
        };
        if key.name == DATETIME_KEY {
            return Ok(Node::Datetime(map.next_value::<String>()?));
        }
        let mut item: Item = map.next_value()?;
        if item.span.is_none() {
            item.span = key.span.clone();
        }
        entries.push((key, item));
    }
    Ok(Node::Table(entries))
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(i64::try_from(v).map_or(Node::Float(v as f64), Node::Int))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Item>()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        read_table(&mut map, None)
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct ItemVisitor;

impl ItemVisitor {
    fn plain(node: Node) -> Item {
        Item { node, span: None }
    }
}

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = Item;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Item, E> {
        NodeVisitor.visit_bool(v).map(Self::plain)
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Item, E> {
        NodeVisitor.visit_i64(v).map(Self::plain)
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Item, E> {
        NodeVisitor.visit_u64(v).map(Self::plain)
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Item, E> {
        NodeVisitor.visit_f64(v).map(Self::plain)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Item, E> {
        NodeVisitor.visit_str(v).map(Self::plain)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Item, A::Error> {
        NodeVisitor.visit_seq(seq).map(Self::plain)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Item, A::Error> {
        let Some(first) = map.next_key::<Key>()? else {
            return Ok(Self::plain(Node::Table(Vec::new())));
        };
        if first.name != SPANNED_START {
            return read_table(&mut map, Some(first)).map(Self::plain);
        }
        let start: usize = map.next_value()?;
        let (mut end, mut node) = (start, None);
        while let Some(field) = map.next_key::<String>()? {
            if field == SPANNED_END {
                end = map.next_value()?;
            } else {
                node = Some(map.next_value::<Node>()?);
            }
        }
        let node = node.unwrap_or(Node::Table(Vec::new()));
        Ok(Item { node, span: Some(start..end) })
    }
}

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct(SPANNED_NAME, SPANNED_FIELDS, ItemVisitor)
    }
}

impl Node {
    /// A string, number or boolean as a TOML value (None for datetimes,
    /// arrays and tables).
    pub(crate) fn scalar(&self) -> Option<toml::Value> {
        match self {
            Node::Str(s) => Some(toml::Value::String(s.clone())),
            Node::Int(i) => Some(toml::Value::Integer(*i)),
            Node::Float(f) => Some(toml::Value::Float(*f)),
            Node::Bool(b) => Some(toml::Value::Boolean(*b)),
            _ => None,
        }
    }
}

impl Item {
    /// Parse a whole TOML document.
    pub(crate) fn parse(text: &str) -> Result<Item, toml::de::Error> {
        let node: Node = toml::from_str(text)?;
        Ok(Item { node, span: Some(0..text.len()) })
    }

    /// The item at a dotted path such as `workers[1].receive.max`.
    pub(crate) fn lookup(&self, path: &str) -> Option<&Item> {
        let mut item = self;
        for seg in path.split('.').filter(|s| !s.is_empty()) {
            let (key, mut rest) = seg.split_once('[').map_or((seg, ""), |(k, r)| (k, r));
            if !key.is_empty() {
                let Node::Table(entries) = &item.node else { return None };
                item = &entries.iter().find(|(k, _)| k.name == key)?.1;
            }
            while let Some((idx, after)) = rest.split_once(']') {
                let Node::Array(items) = &item.node else { return None };
                item = items.get(idx.parse::<usize>().ok()?)?;
                rest = after.trim_start_matches('[');
            }
        }
        Some(item)
    }
}
