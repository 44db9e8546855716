//! What a session keeps of its runs in memory (SPEC §15: `mpf run`'s memory must not grow
//! with what runs print or record): per run its index, point, repetition, status and numeric
//! results, packed into a few shared vectors, about 60 bytes a run for a point of one variable
//! and two results. Everything else of a run (steps, times, notes, series) is in the journal
//! only; `results.csv` and the resume's estimates are streamed from it.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use serde_json::{Map, Value};

use crate::store::record::{RunRecord, RunStatus};

/// No entry (the end of a chain of entries whose keys share a hash).
const NONE: u32 = u32::MAX;

/// A set's runs, one entry per recorded run index, found by point and repetition (the later
/// record of the same point and repetition wins, as in the design's replay).
#[derive(Debug, Default)]
pub struct Kept {
    /// Every point's key (its values as JSON, in variable order) one after another.
    keys: String,
    entries: Vec<Entry>,
    /// The last entry whose key and repetition have this hash; older ones (a collision)
    /// through `Entry::prev`.
    by_hash: HashMap<u64, u32>,
    /// Result names, each once; entries' results refer to them by position.
    names: Vec<String>,
    name_ids: HashMap<String, u32>,
    /// Every entry's numeric results, one after another: (name id, value).
    values: Vec<(u32, f64)>,
    /// Results are not kept: only a design that decides on them (adaptive repetitions, a
    /// search) reads them, and a run may have hundreds.
    no_results: bool,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    key_at: u32,
    key_len: u32,
    prev: u32,
    repetition: u32,
    index: u32,
    ok: bool,
    values_at: u32,
    values_len: u32,
}

/// One kept run, as the design reads it: its status and numeric results.
#[derive(Debug, Clone, Copy)]
pub struct KeptRun<'a> {
    pub index: usize,
    pub repetition: usize,
    pub status: RunStatus,
    values: &'a [(u32, f64)],
    names: &'a [String],
}

impl<'a> KeptRun<'a> {
    /// Its numeric results in the order the run recorded them (lists, such as a series kept
    /// whole, are not kept).
    pub fn results(&self) -> impl Iterator<Item = (&'a str, f64)> + 'a {
        let names = self.names;
        self.values
            .iter()
            .map(move |&(id, x)| (names[id as usize].as_str(), x))
    }

    /// One numeric result by name.
    pub fn result(&self, name: &str) -> Option<f64> {
        self.results().find(|(n, _)| *n == name).map(|(_, x)| x)
    }
}

/// The identity of a point among kept runs: its values as JSON, in variable order.
pub(crate) fn point_key(point: &Map<String, Value>) -> String {
    serde_json::to_string(point).unwrap_or_default()
}

/// The hash of a run's identity: its point's key and its repetition (so that a point's many
/// repetitions do not share one chain).
fn hash_of(key: &str, repetition: usize) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    repetition.hash(&mut h);
    h.finish()
}

/// A position in one of the packed vectors; a session holding 2^32 of anything has run out
/// of memory long before.
fn at(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(NONE)
}

impl Kept {
    /// The runs of `records`, in order (later records of the same run win).
    pub fn new(records: &[RunRecord]) -> Kept {
        let mut kept = Kept::default();
        for r in records {
            kept.push(r);
        }
        kept
    }

    /// Makes room for `runs` more runs at once (at most 2^20), so that the entries take what
    /// they need rather than up to twice that as a vector grown one run at a time does.
    pub fn reserve(&mut self, runs: usize) {
        let runs = runs.min(1 << 20);
        self.entries.reserve_exact(runs);
        self.by_hash.reserve(runs);
    }

    /// From now on keeps runs without their results (a design that reads none).
    pub fn drop_results(&mut self) {
        self.no_results = true;
    }

    /// Keeps a run. Another record of a point and repetition already kept (a run recorded
    /// again under another index) is what `get` finds from now on; both count as runs, as
    /// both are in the journal.
    pub fn push(&mut self, r: &RunRecord) {
        let key = point_key(&r.point);
        let values_at = at(self.values.len());
        for (name, v) in r.results.iter().filter(|_| !self.no_results) {
            let Some(x) = v.as_f64() else { continue };
            let id = match self.name_ids.get(name) {
                Some(&id) => id,
                None => {
                    let id = at(self.names.len());
                    self.names.push(name.clone());
                    self.name_ids.insert(name.clone(), id);
                    id
                }
            };
            self.values.push((id, x));
        }
        let values_len = at(self.values.len()) - values_at;
        let hash = hash_of(&key, r.repetition);
        let key_at = at(self.keys.len());
        self.keys.push_str(&key);
        let prev = self.by_hash.get(&hash).copied().unwrap_or(NONE);
        self.by_hash.insert(hash, at(self.entries.len()));
        self.entries.push(Entry {
            key_at,
            key_len: at(key.len()),
            prev,
            repetition: at(r.repetition),
            index: at(r.index),
            ok: r.status == RunStatus::Ok,
            values_at,
            values_len,
        });
    }

    fn find(&self, hash: u64, key: &str, repetition: usize) -> Option<usize> {
        let mut pos = *self.by_hash.get(&hash)?;
        while pos != NONE {
            let e = &self.entries[pos as usize];
            if e.repetition as usize == repetition && self.key(e) == key {
                return Some(pos as usize);
            }
            pos = e.prev;
        }
        None
    }

    fn key(&self, e: &Entry) -> &str {
        let from = e.key_at as usize;
        self.keys.get(from..from + e.key_len as usize).unwrap_or("")
    }

    fn run(&self, e: &Entry) -> KeptRun<'_> {
        let from = e.values_at as usize;
        KeptRun {
            index: e.index as usize,
            repetition: e.repetition as usize,
            status: if e.ok {
                RunStatus::Ok
            } else {
                RunStatus::Failed
            },
            values: self
                .values
                .get(from..from + e.values_len as usize)
                .unwrap_or(&[]),
            names: &self.names,
        }
    }

    /// The run of point `key` (see [`point_key`]) and `repetition`, if kept.
    pub fn get(&self, key: &str, repetition: usize) -> Option<KeptRun<'_>> {
        let pos = self.find(hash_of(key, repetition), key, repetition)?;
        Some(self.run(&self.entries[pos]))
    }

    /// How many runs are kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many kept runs are ok.
    pub fn ok(&self) -> usize {
        self.entries.iter().filter(|e| e.ok).count()
    }

    /// Every kept run's index.
    pub fn indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.entries.iter().map(|e| e.index as usize)
    }

    /// Every kept run's point key, in the order they were first kept.
    pub fn point_keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.entries.iter().map(|e| self.key(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::store::writer::tests::ok_record as record;

    #[test]
    fn runs_are_found_by_point_and_repetition_with_their_numeric_results() {
        let mut failed = record(1, json!({"a": 1, "b": "x"}), 1, json!({"lat": 2.5}));
        failed.status = RunStatus::Failed;
        let kept = Kept::new(&[
            record(
                0,
                json!({"a": 1, "b": "x"}),
                0,
                json!({"lat": 1.5, "s": [1, 2], "n": 3}),
            ),
            failed,
            record(2, json!({"a": 2, "b": "x"}), 0, json!({"n": 4})),
        ]);
        assert_eq!(kept.len(), 3);
        assert_eq!(kept.ok(), 2);
        let key = point_key(json!({"a": 1, "b": "x"}).as_object().unwrap());
        let r = kept.get(&key, 0).unwrap();
        assert_eq!((r.index, r.status), (0, RunStatus::Ok));
        assert_eq!(r.results().collect::<Vec<_>>(), [("lat", 1.5), ("n", 3.0)]);
        let r = kept.get(&key, 1).unwrap();
        assert_eq!(
            (r.index, r.status, r.result("lat")),
            (1, RunStatus::Failed, Some(2.5))
        );
        assert!(kept.get(&key, 2).is_none());
        assert!(kept.get(r#"{"a":3,"b":"x"}"#, 0).is_none());
        assert_eq!(kept.indices().collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(kept.point_keys().nth(2), Some(r#"{"a":2,"b":"x"}"#));
    }

    #[test]
    fn a_later_record_of_the_same_point_and_repetition_is_the_one_found() {
        let kept = Kept::new(&[
            record(0, json!({"a": 1}), 0, json!({"x": 1})),
            record(7, json!({"a": 1}), 0, json!({"x": 2})),
        ]);
        assert_eq!((kept.len(), kept.ok()), (2, 2));
        let r = kept.get(r#"{"a":1}"#, 0).unwrap();
        assert_eq!((r.index, r.result("x")), (7, Some(2.0)));
    }

    #[test]
    fn runs_kept_without_results_are_found_all_the_same() {
        let mut kept = Kept::default();
        kept.drop_results();
        kept.push(&record(0, json!({"a": 1}), 0, json!({"x": 1})));
        let r = kept.get(r#"{"a":1}"#, 0).unwrap();
        assert_eq!(
            (r.index, r.status, r.results().count()),
            (0, RunStatus::Ok, 0)
        );
    }

    #[test]
    fn keys_sharing_a_hash_bucket_stay_apart() {
        // Many points: chains and the map's growth are exercised, every run stays findable.
        let records: Vec<_> = (0..5000)
            .map(|i| record(i, json!({"i": i % 2500}), i / 2500, json!({"x": i})))
            .collect();
        let kept = Kept::new(&records);
        assert_eq!(kept.len(), 5000);
        for i in 0..5000 {
            let key = format!(r#"{{"i":{}}}"#, i % 2500);
            assert_eq!(
                kept.get(&key, i / 2500).unwrap().result("x"),
                Some(i as f64)
            );
        }
    }
}
