//! A variable's values and labels, held compactly (SPEC §15: `mpf run` of a sweep of 10^5
//! points must not pay a JSON value and a string per point, three times over).
//!
//! [`Values`] keeps whole numbers as `i64`, other numbers as `f64` (8 bytes a value instead
//! of a `serde_json::Value`'s 72) and anything else as JSON values; [`Labels`] keeps every
//! label in one string. Both read and write the JSON array they stand for, unchanged, and
//! both dereference to a slice for code that wants one: built on the first such use and kept
//! (readers), never by the run's own path, which reads values one at a time
//! ([`Values::get`], [`Labels::get`]). A clone shares the values (the experiment, the plan
//! and the manifest hold one list); a push to a shared list copies it first.

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Repr {
    /// Every value is an integer JSON number that fits an `i64`.
    Ints(Vec<i64>),
    /// Every value is a JSON number with a fraction or an exponent (`serde_json`'s float).
    Floats(Vec<f64>),
    /// Anything else.
    Json(Vec<Value>),
}

impl Repr {
    fn len(&self) -> usize {
        match self {
            Repr::Ints(v) => v.len(),
            Repr::Floats(v) => v.len(),
            Repr::Json(v) => v.len(),
        }
    }

    fn get(&self, i: usize) -> Option<Value> {
        match self {
            Repr::Ints(v) => v.get(i).map(|&x| Value::from(x)),
            Repr::Floats(v) => v.get(i).map(|&x| float_value(x)),
            Repr::Json(v) => v.get(i).cloned(),
        }
    }
}

/// A list of JSON values, compact when they are all integers or all floats.
#[derive(Default)]
pub struct Values {
    repr: Option<Arc<Repr>>,
    /// The values as JSON, built on first use through `Deref` (never for `Json`).
    slice: OnceLock<Vec<Value>>,
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) if !n.is_f64() => n.as_i64(),
        _ => None,
    }
}

fn as_float(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) if n.is_f64() => n.as_f64(),
        _ => None,
    }
}

fn float_value(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

impl Values {
    pub fn new() -> Values {
        Values::default()
    }

    pub fn len(&self) -> usize {
        self.repr.as_deref().map_or(0, Repr::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value at `i`, built from its compact form (no slice is built).
    pub fn get(&self, i: usize) -> Option<Value> {
        self.repr.as_deref()?.get(i)
    }

    /// The value at `i` as a number, if it is one (no slice is built).
    pub fn number(&self, i: usize) -> Option<f64> {
        match self.repr.as_deref()? {
            Repr::Ints(v) => v.get(i).map(|&x| x as f64),
            Repr::Floats(v) => v.get(i).copied(),
            Repr::Json(v) => v.get(i).and_then(Value::as_f64),
        }
    }

    /// Every value in order, built one at a time (no slice is built).
    pub fn each(&self) -> impl Iterator<Item = Value> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// True when every value is a number.
    pub fn all_numbers(&self) -> bool {
        match self.repr.as_deref() {
            None | Some(Repr::Ints(_)) | Some(Repr::Floats(_)) => true,
            Some(Repr::Json(v)) => v.iter().all(Value::is_number),
        }
    }

    /// The position of `value` (its first), found without building a slice.
    pub fn position(&self, value: &Value) -> Option<usize> {
        match self.repr.as_deref()? {
            Repr::Ints(v) => {
                let x = as_int(value)?;
                v.iter().position(|&y| y == x)
            }
            Repr::Floats(v) => {
                let x = as_float(value)?;
                v.iter().position(|&y| y == x)
            }
            Repr::Json(v) => v.iter().position(|y| y == value),
        }
    }

    /// Appends a value, keeping the compact form while the value fits it.
    pub fn push(&mut self, value: Value) {
        self.slice = OnceLock::new();
        let (int, float) = (as_int(&value), as_float(&value));
        let Some(shared) = &mut self.repr else {
            self.repr = Some(Arc::new(match (int, float) {
                (Some(x), _) => Repr::Ints(vec![x]),
                (_, Some(x)) => Repr::Floats(vec![x]),
                _ => Repr::Json(vec![value]),
            }));
            return;
        };
        let repr = Arc::make_mut(shared);
        match (&mut *repr, int, float) {
            (Repr::Ints(v), Some(x), _) => v.push(x),
            (Repr::Floats(v), _, Some(x)) => v.push(x),
            (Repr::Json(v), _, _) => v.push(value),
            (_, _, _) => {
                let mut all: Vec<Value> = (0..repr.len()).filter_map(|i| repr.get(i)).collect();
                all.push(value);
                *repr = Repr::Json(all);
            }
        }
    }

    /// The values as JSON in a vector of their own.
    pub fn to_vec(&self) -> Vec<Value> {
        self.each().collect()
    }

    /// Whether a slice of the values was built (tests check the run's path builds none).
    #[cfg(test)]
    pub(crate) fn holds_slice(&self) -> bool {
        self.slice.get().is_some()
    }

    /// Gives back room a vector grown one value at a time keeps for more.
    pub fn shrink_to_fit(&mut self) {
        match self.repr.as_mut().and_then(Arc::get_mut) {
            None => {}
            Some(Repr::Ints(v)) => v.shrink_to_fit(),
            Some(Repr::Floats(v)) => v.shrink_to_fit(),
            Some(Repr::Json(v)) => v.shrink_to_fit(),
        }
    }
}

impl Values {
    /// Integers, held as they are (a range of them).
    pub(crate) fn ints(v: Vec<i64>) -> Values {
        Values::of(Repr::Ints(v))
    }

    /// Numbers with a fraction, held as they are (a range of them; a value that is not
    /// finite has no JSON number: the list is then held as JSON, with a null there).
    pub(crate) fn floats(v: Vec<f64>) -> Values {
        if v.iter().all(|x| x.is_finite()) {
            Values::of(Repr::Floats(v))
        } else {
            v.into_iter().map(float_value).collect::<Vec<_>>().into()
        }
    }

    fn of(repr: Repr) -> Values {
        Values {
            repr: (repr.len() > 0).then(|| Arc::new(repr)),
            slice: OnceLock::new(),
        }
    }

    /// Whether every value is a number, a string or a boolean (not a list, a map or null).
    pub(crate) fn all_scalars(&self) -> bool {
        match self.repr.as_deref() {
            Some(Repr::Json(v)) => !v
                .iter()
                .any(|v| matches!(v, Value::Array(_) | Value::Object(_) | Value::Null)),
            _ => true,
        }
    }

    /// A value that appears twice (by its JSON text: `1` and `1.0` differ), if any: the
    /// numbers compared in order (a range: without a copy), anything else through a set of
    /// their texts.
    pub(crate) fn duplicate(&self) -> Option<Value> {
        fn adjacent<T: Copy>(v: &[T], same: impl Fn(T, T) -> bool) -> Option<T> {
            v.windows(2).find(|w| same(w[0], w[1])).map(|w| w[0])
        }
        match self.repr.as_deref()? {
            Repr::Ints(v) if v.is_sorted() => adjacent(v, |a, b| a == b).map(Value::from),
            Repr::Ints(v) => {
                let mut v = v.clone();
                v.sort_unstable();
                adjacent(&v, |a, b| a == b).map(Value::from)
            }
            Repr::Floats(v) => {
                let same = |a: f64, b: f64| a.to_bits() == b.to_bits();
                if v.is_sorted_by(|a, b| a.total_cmp(b).is_le()) {
                    return adjacent(v, same).map(float_value);
                }
                let mut v = v.clone();
                v.sort_unstable_by(f64::total_cmp);
                adjacent(&v, same).map(float_value)
            }
            Repr::Json(v) => {
                let mut seen = std::collections::HashSet::with_capacity(v.len());
                v.iter().find(|x| !seen.insert(x.to_string())).cloned()
            }
        }
    }
}

impl From<Vec<Value>> for Values {
    fn from(values: Vec<Value>) -> Values {
        let repr = if values.is_empty() {
            None
        } else if let Some(ints) = values.iter().map(as_int).collect::<Option<Vec<i64>>>() {
            Some(Repr::Ints(ints))
        } else if let Some(floats) = values.iter().map(as_float).collect::<Option<Vec<f64>>>() {
            Some(Repr::Floats(floats))
        } else {
            Some(Repr::Json(values))
        };
        Values {
            repr: repr.map(Arc::new),
            slice: OnceLock::new(),
        }
    }
}

impl FromIterator<Value> for Values {
    fn from_iter<I: IntoIterator<Item = Value>>(iter: I) -> Values {
        let mut values = Values::new();
        for v in iter {
            values.push(v);
        }
        values.shrink_to_fit();
        values
    }
}

impl std::ops::Deref for Values {
    type Target = [Value];

    /// The values as a slice: built once on first use (a reader's convenience; a running
    /// session reads them with [`Values::get`]).
    fn deref(&self) -> &[Value] {
        match self.repr.as_deref() {
            None => &[],
            Some(Repr::Json(v)) => v,
            Some(_) => self.slice.get_or_init(|| self.to_vec()),
        }
    }
}

impl<'a> IntoIterator for &'a Values {
    type Item = &'a Value;
    type IntoIter = std::slice::Iter<'a, Value>;

    /// Through the slice (see `Deref`).
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl Clone for Values {
    fn clone(&self) -> Values {
        Values {
            repr: self.repr.clone(),
            slice: OnceLock::new(),
        }
    }
}

impl PartialEq for Values {
    fn eq(&self, other: &Values) -> bool {
        match (self.repr.as_deref(), other.repr.as_deref()) {
            (Some(a), Some(b)) if std::mem::discriminant(a) == std::mem::discriminant(b) => a == b,
            _ => self.len() == other.len() && self.each().eq(other.each()),
        }
    }
}

impl std::fmt::Debug for Values {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.each()).finish()
    }
}

impl Serialize for Values {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.len()))?;
        match self.repr.as_deref() {
            None => {}
            Some(Repr::Ints(v)) => v.iter().try_for_each(|x| seq.serialize_element(x))?,
            Some(Repr::Floats(v)) => v
                .iter()
                .try_for_each(|&x| seq.serialize_element(&float_value(x)))?,
            Some(Repr::Json(v)) => v.iter().try_for_each(|x| seq.serialize_element(x))?,
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Values, D::Error> {
        Vec::<Value>::deserialize(d).map(Values::from)
    }
}

/// A list of display labels, held in one string (shared by clones, as [`Values`]).
#[derive(Default)]
pub struct Labels {
    packed: Arc<Packed>,
    /// The labels as strings, built on first use through `Deref`.
    slice: OnceLock<Vec<String>>,
}

#[derive(Default, Clone, PartialEq)]
struct Packed {
    text: String,
    /// Where each label ends in `text`.
    ends: Vec<u32>,
}

impl Labels {
    pub fn new() -> Labels {
        Labels::default()
    }

    pub fn len(&self) -> usize {
        self.packed.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packed.ends.is_empty()
    }

    /// The label at `i` (no slice is built).
    pub fn get(&self, i: usize) -> Option<&str> {
        let Packed { text, ends } = &*self.packed;
        let end = *ends.get(i)? as usize;
        let start = match i {
            0 => 0,
            _ => ends[i - 1] as usize,
        };
        text.get(start..end)
    }

    /// Every label in order (no slice is built).
    pub fn each(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// Appends a label. The text of every label of a list is bounded by what mpf reads
    /// (an experiment file, a manifest) far below 4 GiB; a label past that is kept empty.
    pub fn push(&mut self, label: impl AsRef<str>) {
        let label = label.as_ref();
        self.slice = OnceLock::new();
        let Packed { text, ends } = Arc::make_mut(&mut self.packed);
        if let Ok(end) = u32::try_from(text.len() + label.len()) {
            text.push_str(label);
            ends.push(end);
        } else {
            let end = ends.last().copied().unwrap_or(0);
            ends.push(end);
        }
    }

    /// Whether a slice of the labels was built (tests check the run's path builds none).
    #[cfg(test)]
    pub(crate) fn holds_slice(&self) -> bool {
        self.slice.get().is_some()
    }

    pub fn shrink_to_fit(&mut self) {
        if let Some(Packed { text, ends }) = Arc::get_mut(&mut self.packed) {
            text.shrink_to_fit();
            ends.shrink_to_fit();
        }
    }
}

impl<S: AsRef<str>> FromIterator<S> for Labels {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Labels {
        let mut labels = Labels::new();
        for l in iter {
            labels.push(l.as_ref());
        }
        labels.shrink_to_fit();
        labels
    }
}

impl From<Vec<String>> for Labels {
    fn from(labels: Vec<String>) -> Labels {
        labels.into_iter().collect()
    }
}

impl std::ops::Deref for Labels {
    type Target = [String];

    /// The labels as a slice: built once on first use (a reader's convenience).
    fn deref(&self) -> &[String] {
        self.slice
            .get_or_init(|| self.each().map(str::to_string).collect())
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;

    /// Through the slice (see `Deref`).
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl Clone for Labels {
    fn clone(&self) -> Labels {
        Labels {
            packed: Arc::clone(&self.packed),
            slice: OnceLock::new(),
        }
    }
}

impl PartialEq for Labels {
    fn eq(&self, other: &Labels) -> bool {
        self.packed == other.packed
    }
}

impl<S: AsRef<str>> PartialEq<[S]> for Labels {
    fn eq(&self, other: &[S]) -> bool {
        self.len() == other.len() && self.each().zip(other).all(|(a, b)| a == b.as_ref())
    }
}

impl<S: AsRef<str>, const N: usize> PartialEq<[S; N]> for Labels {
    fn eq(&self, other: &[S; N]) -> bool {
        *self == other[..]
    }
}

impl std::fmt::Debug for Labels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.each()).finish()
    }
}

impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.each())
    }
}

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Labels, D::Error> {
        Vec::<String>::deserialize(d).map(Labels::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_duplicate_is_found_sorted_or_not_by_its_json_text() {
        let dup = |v: Values| v.duplicate().map(|x| x.to_string());
        assert_eq!(dup(Values::ints((1..100_000).collect())), None);
        assert_eq!(dup(Values::ints(vec![3, 1, 2, 1])), Some("1".into()));
        assert_eq!(dup(Values::ints(vec![1, 2, 2, 3])), Some("2".into()));
        assert_eq!(dup(Values::floats(vec![0.5, 1.5, 2.5])), None);
        assert_eq!(dup(Values::floats(vec![1.5, 0.5, 1.5])), Some("1.5".into()));
        // -0.0 and 0.0 are written differently, as 1 and 1.0 are.
        assert_eq!(dup(Values::floats(vec![-0.0, 0.0])), None);
        assert_eq!(dup(vec![json!(1), json!(1.0)].into()), None);
        assert_eq!(
            dup(vec![json!("a"), json!(1), json!("a")].into()),
            Some(r#""a""#.into())
        );
        assert_eq!(dup(Values::new()), None);
    }

    #[test]
    fn a_range_is_held_compactly_and_only_scalars_pass() {
        let ints = Values::ints(vec![1, 2]);
        assert_eq!(serde_json::to_string(&ints).unwrap(), "[1,2]");
        let floats = Values::floats(vec![0.5, 1.0]);
        assert_eq!(serde_json::to_string(&floats).unwrap(), "[0.5,1.0]");
        assert!(ints.all_scalars() && floats.all_scalars() && !ints.holds_slice());
        let odd = Values::floats(vec![0.5, f64::INFINITY]);
        assert_eq!(serde_json::to_string(&odd).unwrap(), "[0.5,null]");
        assert!(!odd.all_scalars());
        assert!(!Values::from(vec![json!(1), json!([2])]).all_scalars());
        assert!(Values::ints(Vec::new()).is_empty());
    }

    /// What the manifest held before: a plain JSON array, read and written back.
    fn round_trip(text: &str) -> Values {
        let old: Vec<Value> = serde_json::from_str(text).unwrap();
        let new: Values = serde_json::from_str(text).unwrap();
        assert_eq!(
            serde_json::to_string(&new).unwrap(),
            serde_json::to_string(&old).unwrap(),
            "written back as before"
        );
        assert_eq!(&*new, &old[..], "as a slice");
        assert_eq!(new.to_vec(), old, "one at a time");
        for (i, v) in old.iter().enumerate() {
            assert_eq!(new.get(i).as_ref(), Some(v));
            assert_eq!(new.position(v), old.iter().position(|x| x == v));
            assert_eq!(new.number(i), v.as_f64());
        }
        assert_eq!(new.get(old.len()), None);
        assert_eq!(new.all_numbers(), old.iter().all(Value::is_number));
        assert_eq!(Values::from(old.clone()), new);
        assert_eq!(old.into_iter().collect::<Values>(), new);
        new
    }

    #[test]
    fn values_read_and_write_the_json_array_they_stand_for() {
        let ints = round_trip("[1,-2,3,9223372036854775807,-9223372036854775808]");
        assert!(matches!(ints.repr.as_deref(), Some(Repr::Ints(_))));
        let floats = round_trip("[0.1,0.2,1e-7,1.0,2.5e300]");
        assert!(matches!(floats.repr.as_deref(), Some(Repr::Floats(_))));
        // Mixed kinds, a u64 beyond i64 and strings stay JSON values, exactly.
        for text in [
            "[1,2.5]",
            "[18446744073709551615]",
            r#"["a","b",true,1]"#,
            "[]",
        ] {
            round_trip(text);
        }
        assert_eq!(floats.position(&json!(1)), None, "1 is not 1.0");
        assert_eq!(ints.position(&json!("1")), None);
    }

    #[test]
    fn a_pushed_value_of_another_kind_turns_the_list_into_json_values() {
        let mut v = Values::from(vec![json!(1), json!(2)]);
        assert_eq!(&*v, &[json!(1), json!(2)][..]);
        v.push(json!(3));
        assert!(matches!(v.repr.as_deref(), Some(Repr::Ints(_))));
        assert_eq!(v.len(), 3, "the slice built before is not kept stale");
        assert_eq!(&*v, &[json!(1), json!(2), json!(3)][..]);
        v.push(json!(0.5));
        assert!(matches!(v.repr.as_deref(), Some(Repr::Json(_))));
        assert_eq!(serde_json::to_string(&v).unwrap(), "[1,2,3,0.5]");
        let mut empty = Values::new();
        empty.push(json!(0.5));
        assert!(matches!(empty.repr.as_deref(), Some(Repr::Floats(_))));
        assert_eq!(empty.clone(), Values::from(vec![json!(0.5)]));
    }

    #[test]
    fn clones_share_one_list_until_one_of_them_grows() {
        let a = Values::from(vec![json!(1), json!(2)]);
        let mut b = a.clone();
        let same = |x: &Values, y: &Values| match (&x.repr, &y.repr) {
            (Some(x), Some(y)) => Arc::ptr_eq(x, y),
            _ => false,
        };
        assert!(same(&a, &b));
        b.push(json!(3));
        assert!(!same(&a, &b));
        assert_eq!((a.len(), b.len()), (2, 3));
        let l = Labels::from(vec!["x".to_string()]);
        let mut m = l.clone();
        assert!(Arc::ptr_eq(&l.packed, &m.packed));
        m.push("y");
        assert_eq!((l.len(), m.len(), m.get(1)), (1, 2, Some("y")));
    }

    #[test]
    fn labels_read_and_write_the_strings_they_stand_for() {
        let text = r#"["1","two","","é ü",""]"#;
        let old: Vec<String> = serde_json::from_str(text).unwrap();
        let mut new: Labels = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&new).unwrap(), text);
        assert_eq!(&*new, &old[..]);
        assert!(new == old[..]);
        assert_eq!(new.each().collect::<Vec<_>>(), old);
        assert_eq!(new.get(3), Some("é ü"));
        assert_eq!(new.get(5), None);
        new.push("six");
        assert_eq!(new.len(), 6);
        assert_eq!(new.last().map(String::as_str), Some("six"));
        assert_eq!(Labels::from(old.clone()), old.iter().collect::<Labels>());
        assert!(Labels::new().is_empty());
    }
}
