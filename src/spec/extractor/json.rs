//! `json: PATH`: the number at a path of keys (integers index arrays) in the JSON document of
//! the output (the whole text, else the first embedded document holding the path); a path
//! ending at an array gives a series. Documents are read as they are parsed, never built.

use std::sync::Arc;

use serde_json::Value;

use super::{too_long, Found, Kind, KindEntry, Options, Searched, Series, MAX_SERIES_VALUES};

pub(super) const KIND: KindEntry = KindEntry {
    name: "json",
    parse,
};

#[derive(Debug, Clone)]
pub struct Json {
    pub path: Vec<String>,
}

fn parse(o: &Options) -> Result<Arc<dyn Kind>, String> {
    if o.all {
        return Err("all applies to regex results (a JSON array is a series already)".into());
    }
    let p = o.value;
    let path = crate::spec::json_path::parse_json_path(p)
        .map_err(|m| format!("invalid json path '{p}': {m}"))?;
    Ok(Arc::new(Json { path }))
}

impl Kind for Json {
    fn series(&self) -> Series {
        Series::Maybe
    }

    fn apply(&self, t: &Searched) -> Result<Found, String> {
        let read = |x: Scalar| -> Result<f64, String> {
            match x {
                Scalar::Num(x) => t.number(x),
                Scalar::Text(s) => t.convert(s),
                Scalar::Bool(b) => Ok(f64::from(u8::from(b))),
            }
        };
        let reader = Reader {
            read: &read,
            shown: show_path(&self.path),
        };
        match json_value(t.text, &self.path, &reader).map_err(|m| format!("{m} in {}", t.what))? {
            Picked::One(x) => x.map(Found::One),
            Picked::Series(list) => list.map(Found::Series),
        }
    }
}

fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// A path as written back, keys holding a `.` quoted.
fn show_path(path: &[String]) -> String {
    path.iter()
        .map(|k| {
            if k.contains('.') {
                format!("\"{k}\"")
            } else {
                k.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// A scalar found in a JSON document.
enum Scalar<'s> {
    Num(f64),
    Text(&'s str),
    Bool(bool),
}

/// What a JSON path selects, converted as it is read.
enum Picked {
    One(Result<f64, String>),
    Series(Result<Vec<f64>, String>),
}

/// How the values at a path are read: `read` converts a scalar, `shown` names the path in
/// messages.
struct Reader<'a> {
    read: &'a dyn Fn(Scalar) -> Result<f64, String>,
    shown: String,
}

impl Reader<'_> {
    fn not_number(&self, what: &str) -> String {
        format!("json path '{}' holds {what}, not a number", self.shown)
    }
}

/// Follows `path` through one JSON document as it is parsed, keeping only what the path
/// selects (a huge document is never built as a tree): `Err(i)` when `path[i]` is missing.
struct Select<'a> {
    path: &'a [String],
    depth: usize,
    reader: &'a Reader<'a>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Select<'_> {
    type Value = Result<Picked, usize>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Select<'_> {
    type Value = Result<Picked, usize>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Ok(self.leaf(|r| (r.read)(Scalar::Bool(b))))
    }
    fn visit_i64<E>(self, x: i64) -> Result<Self::Value, E> {
        Ok(self.leaf(|r| (r.read)(Scalar::Num(x as f64))))
    }
    fn visit_u64<E>(self, x: u64) -> Result<Self::Value, E> {
        Ok(self.leaf(|r| (r.read)(Scalar::Num(x as f64))))
    }
    fn visit_f64<E>(self, x: f64) -> Result<Self::Value, E> {
        Ok(self.leaf(|r| (r.read)(Scalar::Num(x))))
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(self.leaf(|r| (r.read)(Scalar::Text(s))))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(self.leaf(|r| Err(r.not_number("null"))))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(key) = self.path.first() else {
            let shown = Shown::map(&mut map)?;
            return Ok(Ok(Picked::One(Err(self.reader.not_number(&shown)))));
        };
        // The last of duplicate keys wins, as in a parsed tree.
        let mut got = Err(self.depth);
        while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if k == key.as_str() {
                got = map.next_value_seed(Select {
                    path: &self.path[1..],
                    depth: self.depth + 1,
                    reader: self.reader,
                })?;
            } else {
                map.next_value::<Skip>()?;
            }
        }
        Ok(got)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let Some(key) = self.path.first() else {
            return Ok(Ok(Picked::Series(self.series(&mut seq)?)));
        };
        let index = key.parse::<usize>().ok();
        let (mut i, mut got) = (0, Err(self.depth));
        loop {
            let next = if Some(i) == index {
                seq.next_element_seed(Select {
                    path: &self.path[1..],
                    depth: self.depth + 1,
                    reader: self.reader,
                })?
                .map(|r| got = r)
            } else {
                seq.next_element::<Skip>()?.map(drop)
            };
            if next.is_none() {
                return Ok(got);
            }
            i += 1;
        }
    }
}

impl Select<'_> {
    /// A scalar where the path ends; a miss where it goes on.
    fn leaf(&self, read: impl FnOnce(&Reader) -> Result<f64, String>) -> Result<Picked, usize> {
        if self.path.is_empty() {
            Ok(Picked::One(read(self.reader)))
        } else {
            Err(self.depth)
        }
    }

    /// The numbers of the list the path ends at, at most `MAX_SERIES_VALUES`.
    fn series<'de, A: serde::de::SeqAccess<'de>>(
        &self,
        seq: &mut A,
    ) -> Result<Result<Vec<f64>, String>, A::Error> {
        let mut list = Vec::new();
        let mut failed = None;
        while let Some(item) = seq.next_element::<Item>()? {
            if failed.is_some() {
                continue;
            }
            let x = match &item {
                Item::Num(x) => (self.reader.read)(Scalar::Num(*x)),
                Item::Text(s) => (self.reader.read)(Scalar::Text(s)),
                Item::Bool(b) => (self.reader.read)(Scalar::Bool(*b)),
                Item::Other(shown) => Err(self
                    .reader
                    .not_number(&format!("a list whose item {} is {shown}", list.len()))),
            };
            match x {
                Ok(_) if list.len() >= MAX_SERIES_VALUES => failed = Some(too_long()),
                Ok(x) => list.push(x),
                Err(e) => failed = Some(e),
            }
        }
        Ok(match failed {
            Some(e) => Err(e),
            None if list.is_empty() => Err(format!(
                "json path '{}' holds an empty list",
                self.reader.shown
            )),
            None => Ok(list),
        })
    }
}

/// A value read and dropped. Unlike `serde::de::IgnoredAny` (which serde_json skips without
/// its recursion limit), nesting is bounded: 2 MB of `[` are refused at 128 levels, not
/// scanned to their end from each of their two million starts.
struct Skip;

impl<'de> serde::Deserialize<'de> for Skip {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Skip, D::Error> {
        struct SkipVisitor;
        impl<'de> serde::de::Visitor<'de> for SkipVisitor {
            type Value = Skip;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_unit<E>(self) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Skip, A::Error> {
                while m.next_entry::<Skip, Skip>()?.is_some() {}
                Ok(Skip)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut s: A) -> Result<Skip, A::Error> {
                while s.next_element::<Skip>()?.is_some() {}
                Ok(Skip)
            }
        }
        d.deserialize_any(SkipVisitor)
    }
}

/// An item of a list at a path: a scalar, or anything else shown short.
enum Item {
    Num(f64),
    Text(String),
    Bool(bool),
    Other(String),
}

impl<'de> serde::Deserialize<'de> for Item {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Item, D::Error> {
        struct ItemVisitor;
        impl<'de> serde::de::Visitor<'de> for ItemVisitor {
            type Value = Item;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, b: bool) -> Result<Item, E> {
                Ok(Item::Bool(b))
            }
            fn visit_i64<E>(self, x: i64) -> Result<Item, E> {
                Ok(Item::Num(x as f64))
            }
            fn visit_u64<E>(self, x: u64) -> Result<Item, E> {
                Ok(Item::Num(x as f64))
            }
            fn visit_f64<E>(self, x: f64) -> Result<Item, E> {
                Ok(Item::Num(x))
            }
            fn visit_str<E>(self, s: &str) -> Result<Item, E> {
                Ok(Item::Text(s.to_string()))
            }
            fn visit_unit<E>(self) -> Result<Item, E> {
                Ok(Item::Other("null".into()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Item, A::Error> {
                Shown::map(&mut m).map(Item::Other)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut s: A) -> Result<Item, A::Error> {
                Shown::seq(&mut s).map(Item::Other)
            }
        }
        d.deserialize_any(ItemVisitor)
    }
}

/// A JSON value written back for a message, cut at `SHOWN_JSON_CHARS` characters (the rest
/// is read and dropped).
struct Shown(String);

/// Characters of a JSON value shown in a message.
const SHOWN_JSON_CHARS: usize = 80;

impl Shown {
    fn push(out: &mut String, part: &str) {
        let room = (SHOWN_JSON_CHARS + 1).saturating_sub(out.chars().count());
        out.extend(part.chars().take(room));
    }

    fn done(mut out: String) -> String {
        if out.chars().count() > SHOWN_JSON_CHARS {
            out = out.chars().take(SHOWN_JSON_CHARS).collect();
            out.push('…');
        }
        out
    }

    fn map<'de, A: serde::de::MapAccess<'de>>(m: &mut A) -> Result<String, A::Error> {
        let mut out = String::from("{");
        let mut first = true;
        while let Some(k) = m.next_key::<std::borrow::Cow<'de, str>>()? {
            let v = m.next_value::<Shown>()?;
            if !first {
                Shown::push(&mut out, ",");
            }
            first = false;
            Shown::push(&mut out, &Value::String(k.into_owned()).to_string());
            Shown::push(&mut out, ":");
            Shown::push(&mut out, &v.0);
        }
        Shown::push(&mut out, "}");
        Ok(Shown::done(out))
    }

    fn seq<'de, A: serde::de::SeqAccess<'de>>(s: &mut A) -> Result<String, A::Error> {
        let mut out = String::from("[");
        let mut first = true;
        while let Some(v) = s.next_element::<Shown>()? {
            if !first {
                Shown::push(&mut out, ",");
            }
            first = false;
            Shown::push(&mut out, &v.0);
        }
        Shown::push(&mut out, "]");
        Ok(Shown::done(out))
    }
}

impl<'de> serde::Deserialize<'de> for Shown {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Shown, D::Error> {
        struct ShownVisitor;
        impl<'de> serde::de::Visitor<'de> for ShownVisitor {
            type Value = Shown;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, b: bool) -> Result<Shown, E> {
                Ok(Shown(b.to_string()))
            }
            fn visit_i64<E>(self, x: i64) -> Result<Shown, E> {
                Ok(Shown(x.to_string()))
            }
            fn visit_u64<E>(self, x: u64) -> Result<Shown, E> {
                Ok(Shown(x.to_string()))
            }
            fn visit_f64<E>(self, x: f64) -> Result<Shown, E> {
                Ok(Shown(number(x).to_string()))
            }
            fn visit_str<E>(self, s: &str) -> Result<Shown, E> {
                let cut: String = s.chars().take(SHOWN_JSON_CHARS + 1).collect();
                Ok(Shown(Value::String(cut).to_string()))
            }
            fn visit_unit<E>(self) -> Result<Shown, E> {
                Ok(Shown("null".into()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Shown, A::Error> {
                Shown::map(&mut m).map(Shown)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut s: A) -> Result<Shown, A::Error> {
                Shown::seq(&mut s).map(Shown)
            }
        }
        d.deserialize_any(ShownVisitor)
    }
}

/// Finds the JSON document in `text` that holds `path` (keys; integers index arrays): the
/// whole output, else each document starting at a `{` or `[` in turn (log lines such as
/// iperf3's "[  5] ..." start with a bracket and may even parse). Documents are read, not
/// built: memory stays near what the path selects.
fn json_value(text: &str, path: &[String], reader: &Reader) -> Result<Picked, String> {
    use serde::de::DeserializeSeed;
    let select = || Select {
        path,
        depth: 0,
        reader,
    };
    let whole = {
        let mut de = serde_json::Deserializer::from_str(text);
        select()
            .deserialize(&mut de)
            .and_then(|got| de.end().map(|()| got))
            .ok()
    };
    // Each place that is no document costs a parse up to the error (up to 128 levels of
    // `[[[[`): the search gives up after `MAX_JSON_FAILURES` of them (2 MB of `[` took over
    // ten minutes).
    let failures = std::cell::Cell::new(0usize);
    let embedded = text
        .match_indices(['{', '['])
        .take_while(|_| failures.get() < MAX_JSON_FAILURES)
        .filter_map(|(start, _)| {
            let mut de = serde_json::Deserializer::from_str(&text[start..]);
            let got = select().deserialize(&mut de).ok();
            failures.set(failures.get() + usize::from(got.is_none()));
            got
        });
    let mut first_miss: Option<String> = None;
    for doc in whole.into_iter().chain(embedded) {
        match doc {
            Ok(picked) => return Ok(picked),
            Err(i) => {
                first_miss.get_or_insert_with(|| {
                    format!(
                        "json path '{}' not found (stopped at '{}')",
                        show_path(path),
                        show_path(&path[..=i.min(path.len() - 1)])
                    )
                });
            }
        }
    }
    if failures.get() >= MAX_JSON_FAILURES {
        return Err(format!(
            "{} (the search stopped after {MAX_JSON_FAILURES} places where no JSON document starts)",
            first_miss.unwrap_or_else(|| "no JSON document found".into())
        ));
    }
    Err(first_miss.unwrap_or_else(|| "the step printed no JSON document".into()))
}

/// Places starting with `{` or `[` that hold no JSON document, looked at before the search
/// for an embedded document gives up.
const MAX_JSON_FAILURES: usize = 10_000;
