//! What a session keeps of its runs in memory (SPEC §15: `mpf run`'s memory must not grow
//! with what runs print or record): per run its index, the plan's point, repetition, status
//! and numeric results, packed into a few shared vectors: 16 bytes a run and about 5 bytes of
//! index, plus 12 bytes a numeric result when the design reads them. Everything else of a run
//! (steps, times, notes, series) is in the journal only; `results.csv` and the resume's
//! estimates are streamed from it.

use std::collections::HashMap;

use crate::store::record::{RunRecord, RunStatus};

/// No entry (an empty slot of the index, a run whose point the plan does not have).
const NONE: u32 = u32::MAX;

/// The bit of `Entry::index` saying the run failed (indices are below `MAX_RUNS`, 10^7).
const FAILED: u32 = 1 << 31;

/// A set's runs, one entry per recorded run, found by the plan's point and the repetition
/// (the later record of the same point and repetition wins, as in the design's replay).
#[derive(Debug, Default)]
pub struct Kept {
    entries: Vec<Entry>,
    /// Open addressing with linear probing: the entry of each (point, repetition), `NONE`
    /// where empty; its length is 0 or a power of two, at most 7/8 full.
    slots: Vec<u32>,
    /// Slots in use.
    used: usize,
    /// Result names, each once; entries' results refer to them by position.
    names: Vec<String>,
    name_ids: HashMap<String, u32>,
    /// Every entry's numeric results, one after another: (name id, value). An entry's run
    /// from its `values_at` to the next entry's.
    values: Vec<(u32, f64)>,
    /// Results are not kept: only a design that decides on them (adaptive repetitions, a
    /// search) reads them, and a run may have hundreds.
    no_results: bool,
}

/// 16 bytes.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// The plan's point, `NONE` when the plan has no such point (a resumed set whose
    /// experiment changed with `--force`): counted, never found.
    point: u32,
    repetition: u32,
    /// The run's index, with `FAILED` set when it failed.
    index: u32,
    values_at: u32,
}

impl Entry {
    fn index(&self) -> usize {
        (self.index & !FAILED) as usize
    }

    fn ok(&self) -> bool {
        self.index & FAILED == 0
    }
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

/// A position in one of the packed vectors; a session holding 2^32 of anything has run out
/// of memory long before.
fn at(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(NONE)
}

/// The first slot of (point, repetition) among `2^bits` (Fibonacci hashing).
fn home(point: u32, repetition: u32, mask: usize) -> usize {
    let x = (u64::from(point) << 32 | u64::from(repetition)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 32) as usize & mask
}

impl Kept {
    /// The runs of `records`, in order (later records of the same run win), each at the
    /// plan's point `point_of` gives.
    pub fn new(
        records: &[RunRecord],
        mut point_of: impl FnMut(&RunRecord) -> Option<usize>,
    ) -> Kept {
        let mut kept = Kept::default();
        for r in records {
            kept.push(r, point_of(r));
        }
        kept
    }

    /// Makes room for `runs` more runs at once (at most 2^20), so that the entries take what
    /// they need rather than up to twice that as a vector grown one run at a time does.
    pub fn reserve(&mut self, runs: usize) {
        let runs = runs.min(1 << 20);
        self.entries.reserve_exact(runs);
        self.grow_for(self.used + runs);
    }

    /// From now on keeps runs without their results (a design that reads none).
    pub fn drop_results(&mut self) {
        self.no_results = true;
    }

    /// Keeps a run, of the plan's point `point` (`None`: a point the plan does not have).
    /// Another record of a point and repetition already kept (a run recorded again under
    /// another index) is what `get` finds from now on; both count as runs, as both are in the
    /// journal.
    pub fn push(&mut self, r: &RunRecord, point: Option<usize>) {
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
        let failed = if r.status == RunStatus::Ok { 0 } else { FAILED };
        let entry = Entry {
            point: point.map_or(NONE, at),
            repetition: at(r.repetition),
            index: at(r.index).min(FAILED - 1) | failed,
            values_at,
        };
        let pos = at(self.entries.len());
        self.entries.push(entry);
        if entry.point != NONE {
            self.grow_for(self.used + 1);
            self.index(pos);
        }
    }

    /// Enlarges the index so that `n` runs fill at most 7/8 of it.
    fn grow_for(&mut self, n: usize) {
        let want = (n.saturating_mul(8) / 7 + 1).next_power_of_two().max(16);
        if want <= self.slots.len() {
            return;
        }
        self.slots = vec![NONE; want];
        self.used = 0;
        for pos in 0..self.entries.len() {
            if self.entries[pos].point != NONE {
                self.index(at(pos));
            }
        }
    }

    /// Puts entry `pos` in the index, in place of an earlier one of its point and repetition.
    fn index(&mut self, pos: u32) {
        let e = self.entries[pos as usize];
        let mask = self.slots.len() - 1;
        let mut i = home(e.point, e.repetition, mask);
        loop {
            let s = self.slots[i];
            if s == NONE {
                self.slots[i] = pos;
                self.used += 1;
                return;
            }
            let o = &self.entries[s as usize];
            if (o.point, o.repetition) == (e.point, e.repetition) {
                self.slots[i] = pos;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    fn run(&self, pos: usize) -> KeptRun<'_> {
        let e = &self.entries[pos];
        let from = e.values_at as usize;
        let to = self
            .entries
            .get(pos + 1)
            .map_or(self.values.len(), |n| n.values_at as usize);
        KeptRun {
            index: e.index(),
            repetition: e.repetition as usize,
            status: if e.ok() {
                RunStatus::Ok
            } else {
                RunStatus::Failed
            },
            values: self.values.get(from..to).unwrap_or(&[]),
            names: &self.names,
        }
    }

    /// The run of the plan's point `point` and `repetition`, if kept.
    pub fn get(&self, point: usize, repetition: usize) -> Option<KeptRun<'_>> {
        if self.slots.is_empty() {
            return None;
        }
        let (point, repetition) = (at(point), at(repetition));
        let mask = self.slots.len() - 1;
        let mut i = home(point, repetition, mask);
        loop {
            let s = self.slots[i];
            if s == NONE {
                return None;
            }
            let e = &self.entries[s as usize];
            if (e.point, e.repetition) == (point, repetition) {
                return Some(self.run(s as usize));
            }
            i = (i + 1) & mask;
        }
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
        self.entries.iter().filter(|e| e.ok()).count()
    }

    /// Every kept run's index.
    pub fn indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.entries.iter().map(Entry::index)
    }

    /// Every kept run's point in the plan, in the order they were kept (those the plan does
    /// not have left out).
    pub fn points(&self) -> impl Iterator<Item = usize> + '_ {
        self.entries
            .iter()
            .filter(|e| e.point != NONE)
            .map(|e| e.point as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::store::writer::tests::ok_record as record;

    /// The plan's point of a test record: its `a` value.
    fn point_of(r: &RunRecord) -> Option<usize> {
        r.point.get("a")?.as_u64().map(|a| a as usize)
    }

    #[test]
    fn runs_are_found_by_point_and_repetition_with_their_numeric_results() {
        let mut failed = record(1, json!({"a": 1, "b": "x"}), 1, json!({"lat": 2.5}));
        failed.status = RunStatus::Failed;
        let kept = Kept::new(
            &[
                record(
                    0,
                    json!({"a": 1, "b": "x"}),
                    0,
                    json!({"lat": 1.5, "s": [1, 2], "n": 3}),
                ),
                failed,
                record(2, json!({"a": 2, "b": "x"}), 0, json!({"n": 4})),
                record(3, json!({"b": "gone"}), 0, json!({"n": 5})),
            ],
            point_of,
        );
        assert_eq!(kept.len(), 4);
        assert_eq!(kept.ok(), 3);
        let r = kept.get(1, 0).unwrap();
        assert_eq!((r.index, r.status), (0, RunStatus::Ok));
        assert_eq!(r.results().collect::<Vec<_>>(), [("lat", 1.5), ("n", 3.0)]);
        let r = kept.get(1, 1).unwrap();
        assert_eq!(
            (r.index, r.status, r.result("lat")),
            (1, RunStatus::Failed, Some(2.5))
        );
        assert_eq!(
            r.results().count(),
            1,
            "its own results, not the next run's"
        );
        assert!(kept.get(1, 2).is_none());
        assert!(kept.get(3, 0).is_none());
        assert_eq!(kept.get(2, 0).unwrap().result("n"), Some(4.0));
        // A run the plan has no point for counts, and is never found.
        assert_eq!(kept.indices().collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert_eq!(kept.points().collect::<Vec<_>>(), [1, 1, 2]);
    }

    #[test]
    fn a_later_record_of_the_same_point_and_repetition_is_the_one_found() {
        let kept = Kept::new(
            &[
                record(0, json!({"a": 1}), 0, json!({"x": 1})),
                record(7, json!({"a": 1}), 0, json!({"x": 2})),
            ],
            point_of,
        );
        assert_eq!((kept.len(), kept.ok()), (2, 2));
        let r = kept.get(1, 0).unwrap();
        assert_eq!((r.index, r.result("x")), (7, Some(2.0)));
    }

    #[test]
    fn runs_kept_without_results_are_found_all_the_same() {
        let mut kept = Kept::default();
        kept.drop_results();
        kept.push(&record(0, json!({"a": 1}), 0, json!({"x": 1})), Some(1));
        let r = kept.get(1, 0).unwrap();
        assert_eq!(
            (r.index, r.status, r.results().count()),
            (0, RunStatus::Ok, 0)
        );
    }

    #[test]
    fn many_runs_grow_the_index_and_stay_findable_at_16_bytes_each() {
        assert_eq!(std::mem::size_of::<Entry>(), 16);
        // Reserved for fewer than come: the index grows (and is rebuilt) on the way, and
        // the second repetition of each point replaces nothing of the first.
        let mut kept = Kept::default();
        kept.reserve(100);
        for i in 0..5000 {
            let r = record(i, json!({"a": i % 2500}), i / 2500, json!({"x": i}));
            kept.push(&r, Some(i % 2500));
        }
        assert_eq!(kept.len(), 5000);
        assert!(kept.slots.len().is_power_of_two() && kept.used * 8 <= kept.slots.len() * 7);
        assert_eq!(kept.used, 5000);
        for i in 0..5000 {
            let r = kept.get(i % 2500, i / 2500).unwrap();
            assert_eq!((r.index, r.result("x")), (i, Some(i as f64)));
        }
        assert!(kept.get(2500, 0).is_none() && kept.get(0, 2).is_none());
        // Reserving ahead sizes the index once: 10^5 runs take 2^17 slots, 0.5 MB.
        let mut big = Kept::default();
        big.reserve(100_000);
        assert_eq!(big.slots.len(), 1 << 17);
    }

    #[test]
    fn hostile_indices_and_repetitions_saturate_and_keep_the_status() {
        let mut failed = record(usize::MAX, json!({"a": 1}), usize::MAX, json!({}));
        failed.status = RunStatus::Failed;
        let kept = Kept::new(&[failed], point_of);
        let r = kept.get(1, usize::MAX).unwrap();
        assert_eq!(r.status, RunStatus::Failed);
        assert_eq!(kept.ok(), 0);
        assert_eq!(r.index, (FAILED - 1) as usize);
    }
}
