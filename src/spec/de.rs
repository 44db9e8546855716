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
pub(super) struct OrderedMap<V>(pub Vec<(Spanned<String>, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct OrderedMapVisitor<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for OrderedMapVisitor<V> {
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
        d.deserialize_map(OrderedMapVisitor(PhantomData))
    }
}

/// The longest duration a file may give: 30 days. No step needs longer, and beyond
/// centuries `Instant + d` overflows (a panic in the middle of a run).
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Refuses a duration above `MAX_DURATION`, naming it as written.
fn bounded(d: Duration, written: &str) -> Result<Duration, String> {
    if d > MAX_DURATION {
        return Err(format!(
            "duration '{written}' is longer than the limit of 30 days"
        ));
    }
    Ok(d)
}

/// A duration written `1s`, `500ms`, `2min` or a number of seconds, at most `MAX_DURATION`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as 500ms, 2s or 1min, or a number of seconds")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dur, E> {
                bounded(Duration::from_secs(v), &v.to_string())
                    .map(Dur)
                    .map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dur, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom("a duration cannot be negative")),
                }
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Dur, E> {
                if v.is_nan() || v < 0.0 {
                    return Err(E::custom(format!("invalid duration {v:?}")));
                }
                let d = Duration::try_from_secs_f64(v).unwrap_or(Duration::MAX);
                bounded(d, &format!("{v:?}")).map(Dur).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
                parse_duration(v).map(Dur).map_err(E::custom)
            }
        }
        d.deserialize_any(DurationVisitor)
    }
}

/// Parses `500ms`, `2s`, `1.5s`, `1min`, `1h 30min`, or a bare number of seconds, at most
/// `MAX_DURATION`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    parse_unbounded(text).and_then(|d| bounded(d, text.trim()))
}

fn parse_unbounded(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<f64>() {
        if secs.is_nan() || secs < 0.0 {
            return Err(format!("invalid duration '{t}'"));
        }
        // Too long for a Duration is too long: the bound names it.
        return Ok(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX));
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
pub(crate) struct OneOrMany(pub Vec<String>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct OneOrManyVisitor;
        impl<'de> Visitor<'de> for OneOrManyVisitor {
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
        d.deserialize_any(OneOrManyVisitor)
    }
}

/// Scalar text: strings as they are, numbers and booleans as written.
#[derive(Debug, Clone, Default)]
pub(crate) struct ScalarText(pub String);

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

/// The largest experiment or cluster file mpf reads: far above any real one, and a bound on
/// what `mpf run /dev/zero` (or a file that grows while read) can make mpf hold.
pub(super) const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Reads an input file of at most `MAX_FILE_BYTES`; `what` names it in errors.
pub(crate) fn read_input(path: &Path, what: &str) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let cannot = |e: std::io::Error| Error::input(path, 0, 0, format!("cannot read {what}: {e}"));
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Error::input(
            path,
            0,
            0,
            format!("the {what} is larger than the limit of 16 MiB"),
        ));
    }
    Ok(bytes)
}

/// Options used for both of mpf's YAML files: no snippets (mpf formats its own messages).
pub(super) fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        with_snippet: false,
        strict_booleans: true,
    }
}

/// Converts a YAML/serde error into an input error naming the file, line and column.
pub(super) fn yaml_error(path: &Path, err: serde_saphyr::Error) -> Error {
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

/// A value from a file as a message shows it: control characters escaped (a newline or an
/// escape sequence must not reshape the terminal), the rest as written.
pub(crate) fn shown(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Location of a spanned value as (line, column).
pub(super) fn pos<T>(s: &Spanned<T>) -> (u64, u64) {
    (s.referenced.line(), s.referenced.column())
}

/// A regex error in one line (patterns of extractors and of readiness checks).
pub(super) fn regex_message(e: &regex::Error) -> String {
    // The regex crate's message spans several lines with a caret diagram; keep its last line.
    let s = e.to_string();
    let last = s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    last.trim().trim_start_matches("error: ").to_string()
}
