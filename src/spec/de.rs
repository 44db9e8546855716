//! Deserialisation helpers for the YAML files: ordered maps, one-of-several shapes without
//! `untagged` (which would lose line numbers), durations, and YAML error conversion.

use std::fmt;
use std::marker::PhantomData;
use std::path::Path;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::error::Error;

/// A mapping that keeps the order of its keys as written.
#[derive(Debug, Clone)]
pub struct OrderedMap<V>(pub Vec<(Spanned<String>, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V2<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V2<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(OrderedMap(Vec::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = m.next_key::<Spanned<String>>()? {
                    let v = m.next_value::<V>()?;
                    out.push((k, v));
                }
                Ok(OrderedMap(out))
            }
        }
        d.deserialize_map(V2(PhantomData))
    }
}

/// A duration written `1s`, `500ms`, `2min` or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DV;
        impl Visitor<'_> for DV {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as 500ms, 2s or 1min, or a number of seconds")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dur, E> {
                Ok(Dur(Duration::from_secs(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dur, E> {
                u64::try_from(v)
                    .map(|v| Dur(Duration::from_secs(v)))
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Dur, E> {
                Duration::try_from_secs_f64(v)
                    .map(Dur)
                    .map_err(|_| E::custom(format!("invalid duration {v}")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
                parse_duration(v).map(Dur).map_err(E::custom)
            }
        }
        d.deserialize_any(DV)
    }
}

/// Parses `500ms`, `2s`, `1.5s`, `1min`, `1h 30min`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|_| format!("invalid duration '{t}'"));
    }
    if let Some((num, unit)) = crate::units::split_number(t) {
        if !unit.contains(' ') && num.fract() != 0.0 {
            if let Ok(f) = crate::units::normalise(t, Some("s")) {
                return Duration::try_from_secs_f64(f)
                    .map_err(|_| format!("invalid duration '{t}'"));
            }
        }
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("invalid duration '{t}' ({e}); write it like 500ms, 2s or 1min"))
}

/// One string or a list of strings (`role: server` or `role: [server, client]`).
#[derive(Debug, Clone, Default)]
pub struct OneOrMany(pub Vec<String>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct OV;
        impl<'de> Visitor<'de> for OV {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a name or a list of names")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<OneOrMany, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = s.next_element::<String>()? {
                    out.push(x);
                }
                Ok(OneOrMany(out))
            }
        }
        d.deserialize_any(OV)
    }
}

/// Scalar text: strings as they are, numbers and booleans as written.
#[derive(Debug, Clone, Default)]
pub struct ScalarText(pub String);

impl<'de> Deserialize<'de> for ScalarText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        match v {
            Value::String(s) => Ok(ScalarText(s)),
            Value::Number(n) => Ok(ScalarText(n.to_string())),
            Value::Bool(b) => Ok(ScalarText(b.to_string())),
            _ => Err(de::Error::custom("expected a scalar")),
        }
    }
}

/// Options used for both of mpf's YAML files: no snippets (mpf formats its own messages).
pub fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        with_snippet: false,
        strict_booleans: true,
    }
}

/// Converts a YAML/serde error into an input error naming the file, line and column.
pub fn yaml_error(path: &Path, err: serde_saphyr::Error) -> Error {
    let (line, col) = err
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0));
    let mut msg = err.to_string();
    // The library appends its own position; mpf puts it in front as file:line:col.
    for pat in [" at line ", " at ", "\n"] {
        if let Some(i) = msg.find(pat) {
            if msg[i..].contains("line") || pat == "\n" {
                msg.truncate(i);
                break;
            }
        }
    }
    let msg = msg.trim().trim_end_matches(',').to_string();
    Error::input(path, line, col, msg)
}

/// Location of a spanned value as (line, column).
pub fn pos<T>(s: &Spanned<T>) -> (u64, u64) {
    (s.referenced.line(), s.referenced.column())
}
