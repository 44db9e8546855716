//! The compact form of a set's runs for the readers (SPEC §15: `show --summary`, `report`,
//! `compare`, `history` within 200 MB at 10^5 points): per run its index, point, repetition
//! and status; per distinct point its values once; per result one column of numbers (a run
//! without it holds NaN, which JSON cannot). About 40 bytes a run and 60 a point for a point
//! of one variable and two results, against about 1.3 kB for a `RunRecord`.
//! Built while streaming the journal: the records themselves are never all in memory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::Result;
use crate::store::record::{point_key, Manifest, RunRecord, RunStatus};
use crate::store::resultset::{read_manifest, resolve, ResultSet};

/// A result set as the summarising readers load it: its manifest and its runs in compact form.
#[derive(Debug)]
pub struct CompactSet {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub runs: Runs,
}

impl CompactSet {
    /// Loads `manifest.json`, and `journal.jsonl` a line at a time.
    pub fn load(dir: &Path) -> Result<CompactSet> {
        let manifest = read_manifest(dir)?;
        let runs = Runs::load(&dir.join(crate::store::layout::JOURNAL))?;
        Ok(CompactSet {
            dir: dir.to_path_buf(),
            manifest,
            runs,
        })
    }

    /// The experiment file the set keeps (empty when it cannot be read).
    pub fn experiment_text(&self) -> String {
        crate::store::resultset::experiment_text(&self.dir)
    }

    /// The compact form of a set already loaded whole.
    pub fn of(set: &ResultSet) -> CompactSet {
        CompactSet {
            dir: set.dir.clone(),
            manifest: set.manifest.clone(),
            runs: Runs::from_records(&set.records),
        }
    }
}

/// Resolves `ID` (as [`crate::store::open`] does) and loads the set in compact form.
pub fn open(root: &Path, id: &str) -> Result<CompactSet> {
    CompactSet::load(&resolve(root, id)?)
}

/// One run: where it is in the plan and which point it measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub index: usize,
    /// Index of the point in the (sampled, unshuffled) variable space, as recorded.
    pub point_index: usize,
    /// The run's point among [`Runs::point`]'s.
    pub point: u32,
    pub repetition: usize,
    pub status: RunStatus,
}

/// A list result's summary in one run: how many values, and the mean of the finite ones.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Listed {
    len: usize,
    mean: Option<f64>,
}

/// A set's runs in compact form, in run order (one per run index: a later journal line for
/// the same run wins, as in [`crate::store::resultset::read_journal`]).
#[derive(Debug, Default)]
pub struct Runs {
    runs: Vec<Run>,
    /// Variable names as points name them, each once.
    var_names: Vec<String>,
    /// Every distinct point (by its exact values): (variable name id, value) in the point's
    /// own order.
    points: Vec<Box<[(u32, Value)]>>,
    /// Result names, each once, in the order runs first recorded them.
    names: Vec<String>,
    /// Per result name, per run: its number, NaN when the run has no number for it.
    columns: Vec<Vec<f64>>,
    /// List results (a series kept whole), by (result name id, run position): rare, so apart.
    lists: HashMap<(u32, u32), Listed>,
    /// The runs that recorded notes, with them: (run position, notes), in run order.
    notes: Vec<(u32, Vec<String>)>,
}

/// What building [`Runs`] needs and the result does not: the points and names by text.
#[derive(Default)]
struct Builder {
    runs: Runs,
    point_ids: HashMap<String, u32>,
    var_ids: HashMap<String, u32>,
    name_ids: HashMap<String, u32>,
    /// Where each run index is, when a later record of a run replaces the earlier.
    by_index: HashMap<usize, u32>,
    dedup: bool,
    notes: HashMap<u32, Vec<String>>,
}

/// A position in one of the vectors; a reader holding 2^32 of anything has run out of memory
/// long before (and a journal line says what its index is, not how many runs there are).
fn at(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Builder {
    fn push(&mut self, r: RunRecord) {
        let rs = &mut self.runs;
        let key = point_key(&r.point);
        let point = match self.point_ids.get(&key) {
            Some(&id) => id,
            None => {
                let id = at(rs.points.len());
                let values: Box<[(u32, Value)]> = r
                    .point
                    .into_iter()
                    .map(|(name, v)| {
                        let n = *self.var_ids.entry(name).or_insert_with_key(|name| {
                            rs.var_names.push(name.clone());
                            at(rs.var_names.len() - 1)
                        });
                        (n, v)
                    })
                    .collect();
                rs.points.push(values);
                self.point_ids.insert(key, id);
                id
            }
        };
        let run = Run {
            index: r.index,
            point_index: r.point_index,
            point,
            repetition: r.repetition,
            status: r.status,
        };
        // A run recorded again (a later line for the same index) takes the earlier's place.
        let again = match self.dedup {
            true => self.by_index.get(&r.index).copied(),
            false => None,
        };
        let pos = match again {
            Some(pos) => {
                rs.runs[pos as usize] = run;
                for c in &mut rs.columns {
                    c[pos as usize] = f64::NAN;
                }
                if !rs.lists.is_empty() {
                    for id in 0..at(rs.names.len()) {
                        rs.lists.remove(&(id, pos));
                    }
                }
                self.notes.remove(&pos);
                pos
            }
            None => {
                let pos = at(rs.runs.len());
                if self.dedup {
                    self.by_index.insert(r.index, pos);
                }
                rs.runs.push(run);
                for c in &mut rs.columns {
                    c.push(f64::NAN);
                }
                pos
            }
        };
        for (name, v) in r.results {
            let id = match self.name_ids.get(&name) {
                Some(&id) => id,
                None => {
                    let id = at(rs.names.len());
                    rs.names.push(name.clone());
                    self.name_ids.insert(name, id);
                    let mut column = Vec::with_capacity(rs.runs.capacity());
                    column.resize(rs.runs.len(), f64::NAN);
                    rs.columns.push(column);
                    id
                }
            };
            match v {
                Value::Number(n) => {
                    rs.columns[id as usize][pos as usize] = n.as_f64().unwrap_or(f64::NAN)
                }
                Value::Array(items) => {
                    let xs: Vec<f64> = items
                        .iter()
                        .filter_map(Value::as_f64)
                        .filter(|x| x.is_finite())
                        .collect();
                    let mean = (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64);
                    rs.lists.insert(
                        (id, pos),
                        Listed {
                            len: items.len(),
                            mean,
                        },
                    );
                }
                _ => {}
            }
        }
        if !r.notes.is_empty() {
            self.notes.insert(pos, r.notes);
        }
    }

    /// The runs in run order.
    fn finish(self) -> Runs {
        let mut rs = self.runs;
        rs.notes = self.notes.into_iter().collect();
        let n = rs.runs.len();
        let mut order: Vec<u32> = (0..at(n)).collect();
        order.sort_by_key(|&p| rs.runs[p as usize].index);
        if order.iter().enumerate().any(|(i, &p)| p as usize != i) {
            let mut new_pos = vec![0u32; n];
            for (i, &p) in order.iter().enumerate() {
                new_pos[p as usize] = at(i);
            }
            rs.runs = order.iter().map(|&p| rs.runs[p as usize]).collect();
            for c in &mut rs.columns {
                *c = order.iter().map(|&p| c[p as usize]).collect();
            }
            rs.lists = rs
                .lists
                .into_iter()
                .map(|((id, p), l)| ((id, new_pos[p as usize]), l))
                .collect();
            for note in &mut rs.notes {
                note.0 = new_pos[note.0 as usize];
            }
        }
        rs.notes.sort_by_key(|n| n.0);
        rs.runs.shrink_to_fit();
        for c in &mut rs.columns {
            c.shrink_to_fit();
        }
        rs.points.shrink_to_fit();
        rs
    }
}

impl Runs {
    /// The compact form of a journal, read a line at a time (the same lines are refused as by
    /// [`crate::store::resultset::read_journal`]; a missing journal holds no run).
    pub fn load(journal: &Path) -> Result<Runs> {
        let mut b = Builder {
            dedup: true,
            ..Builder::default()
        };
        crate::store::resultset::visit_journal(journal, |r| b.push(r))?;
        Ok(b.finish())
    }

    /// The compact form of records already read, every one of them (a loaded set holds one
    /// per run; a set made up by a reader, such as a comparison's sides, may repeat indices).
    pub fn from_records(records: &[RunRecord]) -> Runs {
        let mut b = Builder::default();
        for r in records {
            b.push(r.clone());
        }
        b.finish()
    }

    /// Every run, in run order; a run's position here is what the other methods take.
    pub fn runs(&self) -> &[Run] {
        &self.runs
    }

    pub fn len(&self) -> usize {
        self.runs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The positions of the ok runs, in run order.
    pub fn ok(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.runs.len()).filter(|&p| self.runs[p].status == RunStatus::Ok)
    }

    /// How many distinct points the runs measured.
    pub fn point_count(&self) -> usize {
        self.points.len()
    }

    /// A point's values, in the point's own order.
    pub fn point(&self, point: u32) -> impl Iterator<Item = (&str, &Value)> + '_ {
        self.points
            .get(point as usize)
            .map_or(&[][..], |p| &p[..])
            .iter()
            .map(|(n, v)| (self.var_names[*n as usize].as_str(), v))
    }

    /// One value of a point.
    pub fn point_value(&self, point: u32, name: &str) -> Option<&Value> {
        self.point(point).find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// A point as the records hold it.
    pub fn point_map(&self, point: u32) -> Map<String, Value> {
        self.point(point)
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect()
    }

    /// The result names the runs recorded (numbers or lists), in the order first recorded.
    pub fn result_names(&self) -> &[String] {
        &self.names
    }

    /// The column of a result, if any run recorded it.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// The number a run recorded for a result (a list is not a number: see [`Runs::value`]).
    pub fn number(&self, column: usize, run: usize) -> Option<f64> {
        let x = *self.columns.get(column)?.get(run)?;
        (!x.is_nan()).then_some(x)
    }

    /// A run's value of a result as comparisons take it: a finite number, or the mean of a
    /// list's finite values; `None` when absent.
    pub fn value(&self, column: usize, run: usize) -> Option<f64> {
        match self.number(column, run) {
            Some(x) => Some(x).filter(|x| x.is_finite()),
            None => self.lists.get(&(at(column), at(run)))?.mean,
        }
    }

    /// How many values a run's list result holds (`None` when it is not a list).
    pub fn list_len(&self, column: usize, run: usize) -> Option<usize> {
        self.lists.get(&(at(column), at(run))).map(|l| l.len)
    }

    /// True when the run recorded a number or a list for the result.
    pub fn has(&self, column: usize, run: usize) -> bool {
        self.number(column, run).is_some() || self.lists.contains_key(&(at(column), at(run)))
    }

    /// The runs that recorded notes, in run order, with them.
    pub fn notes(&self) -> impl Iterator<Item = (&Run, &[String])> + '_ {
        self.notes
            .iter()
            .map(|(p, n)| (&self.runs[*p as usize], n.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::store::writer::tests::ok_record as record;

    #[test]
    fn runs_keep_their_points_once_and_their_numbers_by_column() {
        let mut failed = record(3, json!({"a": 1, "b": "x"}), 1, json!({"lat": 2.5}));
        failed.status = RunStatus::Failed;
        failed.notes = vec!["a note".into()];
        let runs = Runs::from_records(&[
            record(2, json!({"a": 2, "b": "x"}), 0, json!({"n": 4})),
            record(
                0,
                json!({"a": 1, "b": "x"}),
                0,
                json!({"lat": 1.5, "s": [1, 2, "x"], "n": 3, "t": "text"}),
            ),
            failed,
        ]);
        assert_eq!(runs.len(), 3);
        assert_eq!(runs.point_count(), 2);
        let idx: Vec<usize> = runs.runs().iter().map(|r| r.index).collect();
        assert_eq!(idx, [0, 2, 3], "run order");
        assert_eq!(runs.ok().collect::<Vec<_>>(), [0, 1]);
        assert_eq!(runs.runs()[0].point, runs.runs()[2].point);
        assert_eq!(
            runs.point_map(runs.runs()[1].point),
            *json!({"a": 2, "b": "x"}).as_object().unwrap()
        );
        assert_eq!(
            runs.point_value(runs.runs()[0].point, "b"),
            Some(&json!("x"))
        );
        let (lat, n, s, t) = (
            runs.column("lat").unwrap(),
            runs.column("n").unwrap(),
            runs.column("s").unwrap(),
            runs.column("t").unwrap(),
        );
        assert_eq!(runs.number(lat, 0), Some(1.5));
        assert_eq!(runs.number(lat, 1), None);
        assert_eq!(runs.number(lat, 2), Some(2.5));
        assert_eq!(runs.number(n, 1), Some(4.0));
        assert_eq!((runs.number(s, 0), runs.value(s, 0)), (None, Some(1.5)));
        assert_eq!(runs.list_len(s, 0), Some(3));
        assert!(runs.has(s, 0) && !runs.has(s, 1) && !runs.has(t, 0));
        assert!(runs.column("nothing").is_none());
        let notes: Vec<(usize, &[String])> = runs.notes().map(|(r, n)| (r.index, n)).collect();
        assert_eq!(notes, [(3, &["a note".to_string()][..])]);
    }

    fn loaded(records: &[RunRecord]) -> Runs {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let mut text = String::new();
        for r in records {
            text.push_str(&serde_json::to_string(r).unwrap());
            text.push('\n');
        }
        std::fs::write(&path, text).unwrap();
        Runs::load(&path).unwrap()
    }

    #[test]
    fn records_given_are_all_kept_in_run_order() {
        let runs = Runs::from_records(&[
            record(1, json!({"a": 1}), 0, json!({"x": 1})),
            record(0, json!({"a": 1}), 0, json!({"x": 2})),
            record(0, json!({"a": 2}), 0, json!({"x": 3})),
        ]);
        let x = runs.column("x").unwrap();
        let seen: Vec<(usize, f64)> = (0..runs.len())
            .map(|p| (runs.runs()[p].index, runs.number(x, p).unwrap()))
            .collect();
        assert_eq!(seen, [(0, 2.0), (0, 3.0), (1, 1.0)]);
    }

    #[test]
    fn a_later_record_of_a_run_replaces_the_earlier() {
        let mut again = record(0, json!({"a": 2}), 0, json!({"y": 5}));
        again.notes = vec!["second".into()];
        let mut first = record(0, json!({"a": 1}), 0, json!({"x": 1, "s": [1]}));
        first.notes = vec!["first".into()];
        let runs = loaded(&[first, record(1, json!({"a": 1}), 0, json!({})), again]);
        assert_eq!(runs.len(), 2);
        let r = runs.runs()[0];
        assert_eq!(
            runs.point_map(r.point),
            *json!({"a": 2}).as_object().unwrap()
        );
        let (x, y, s) = (
            runs.column("x").unwrap(),
            runs.column("y").unwrap(),
            runs.column("s").unwrap(),
        );
        assert_eq!((runs.number(x, 0), runs.number(y, 0)), (None, Some(5.0)));
        assert!(!runs.has(s, 0));
        let notes: Vec<usize> = runs.notes().map(|(r, _)| r.index).collect();
        assert_eq!(notes, [0]);
    }

    #[test]
    fn loading_a_journal_reads_what_its_records_hold() {
        let records: Vec<RunRecord> = (0..50)
            .map(|i| {
                record(
                    49 - i,
                    json!({"x": i % 7}),
                    i / 7,
                    json!({"v": i as f64 / 3.0}),
                )
            })
            .collect();
        let loaded = loaded(&records);
        let built = Runs::from_records(&records);
        assert_eq!(loaded.runs(), built.runs());
        let v = loaded.column("v").unwrap();
        for p in 0..50 {
            assert_eq!(loaded.number(v, p), built.number(v, p));
            assert_eq!(loaded.number(v, p), Some((49 - p) as f64 / 3.0));
        }
        let dir = tempfile::tempdir().unwrap();
        assert!(Runs::load(&dir.path().join("none")).unwrap().is_empty());
    }
}
