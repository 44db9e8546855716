//! `runs: {warmup: N}` (SPEC §17): N discarded runs of each point before its first measured
//! run. They run exactly as measured runs do, and each is recorded, flagged `"warmup": true`,
//! in the set's warm-up journal `warmup.jsonl`, never in `journal.jsonl`: no reader of results
//! (results.csv, summaries, graphs, exports, compare, Python's `load`) can take one for a
//! measurement. The warm-up journal is appended and flushed as each ends, so that `--resume`
//! runs only the warm-ups a point still lacks.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::plan::PlannedRun;
use crate::runner::events::{Control, Event};
use crate::runner::run::{RunEnv, RunOutcome};
use crate::store::{now_rfc3339, RunRecord, VariableInfo};

/// The warm-up journal's name in a result set.
pub const FILE: &str = crate::store::layout::WARMUP;

/// Longest line read back from a warm-up journal; a longer one is not counted.
const MAX_LINE: usize = 16 << 20;

/// The warm-ups each point still needs.
pub struct Warmups {
    per_point: usize,
    /// Warm-up runs recorded per point index.
    done: HashMap<usize, usize>,
    path: PathBuf,
}

/// The journal record of a finished run (measured or warm-up).
pub(crate) fn record(
    run: &PlannedRun,
    point: Map<String, Value>,
    outcome: RunOutcome,
    attempts: u32,
    started: String,
) -> RunRecord {
    RunRecord {
        index: run.index,
        point_index: run.point,
        point,
        repetition: run.repetition,
        status: outcome.status,
        attempts,
        results: outcome.results,
        steps: outcome.steps,
        started,
        ended: now_rfc3339(),
        error: outcome.failure.as_ref().map(|f| f.message.clone()),
        notes: outcome.notes,
        warmup_dropped: outcome.warmup_dropped,
        extraction_failed: outcome.extraction_failed,
    }
}

/// How many warm-up runs `set_dir`'s warm-up journal holds per point index. A line that is
/// not a record (a torn last line after a kill, a line beyond 16 MiB) counts for nothing: its
/// warm-up runs again.
pub fn recorded(set_dir: &Path) -> Result<HashMap<usize, usize>> {
    let path = set_dir.join(FILE);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(Error::io(format!("failed to read {}", path.display()), e)),
    };
    let mut done = HashMap::new();
    let mut reader = std::io::BufReader::new(file);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = std::io::Read::take(&mut reader, MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io(format!("failed to read {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        if n > MAX_LINE {
            // Skip the rest of an overlong line.
            let mut rest = Vec::new();
            while !line.ends_with(b"\n") {
                rest.clear();
                let m = std::io::Read::take(&mut reader, MAX_LINE as u64)
                    .read_until(b'\n', &mut rest)
                    .map_err(|e| Error::io(format!("failed to read {}", path.display()), e))?;
                if m == 0 {
                    break;
                }
                line.clear();
                line.extend_from_slice(&rest);
            }
            continue;
        }
        #[derive(serde::Deserialize)]
        struct Line {
            point_index: usize,
        }
        if let Ok(l) = serde_json::from_slice::<Line>(&line) {
            *done.entry(l.point_index).or_insert(0) += 1;
        }
    }
    Ok(done)
}

impl Warmups {
    /// `per_point` warm-ups for each point of the set in `set_dir`, less those its warm-up
    /// journal already holds.
    pub fn load(set_dir: &Path, per_point: usize) -> Result<Warmups> {
        let done = if per_point == 0 {
            HashMap::new()
        } else {
            recorded(set_dir)?
        };
        Ok(Warmups {
            per_point,
            done,
            path: set_dir.join(FILE),
        })
    }

    /// Runs the warm-ups the point of `run` still needs, recording each; `false` when the
    /// session was interrupted during one (not recorded: `--resume` runs it again).
    /// A failed warm-up is recorded and reported, and the measured runs go on.
    pub async fn before(
        &mut self,
        env: &RunEnv<'_>,
        run: &PlannedRun,
        point: &Map<String, Value>,
        variables: &[VariableInfo],
        control: &Control,
    ) -> Result<bool> {
        let done = self.done.get(&run.point).copied().unwrap_or(0);
        for k in done..self.per_point {
            let started = now_rfc3339();
            let outcome = env.execute(run).await;
            if outcome.interrupted {
                return Ok(false);
            }
            if outcome.storage_error.is_some() || outcome.input_error.is_some() {
                // The measured run meets the same error and ends the session with it.
                return Ok(true);
            }
            let failed = outcome.failure.as_ref().map(|f| f.message.clone());
            let record = record(run, point.clone(), outcome, 1, started);
            self.append(&record)?;
            *self.done.entry(run.point).or_insert(0) += 1;
            let what = format!(
                "warm-up {} of {} of point {} discarded",
                k + 1,
                self.per_point,
                crate::store::point_text(variables, point)
            );
            control.emit(match failed {
                None => Event::Note(what),
                Some(e) => Event::Warning(format!("{what}; it failed: {e}")),
            });
        }
        Ok(true)
    }

    /// Appends `record`, flagged `"warmup": true`, to the warm-up journal and flushes it.
    fn append(&self, record: &RunRecord) -> Result<()> {
        let mut v = serde_json::to_value(record)
            .map_err(|e| Error::Runtime(format!("failed to encode a warm-up run: {e}")))?;
        if let Value::Object(m) = &mut v {
            m.insert("warmup".into(), Value::Bool(true));
        }
        let mut line = v.to_string();
        line.push('\n');
        let io = |e| Error::io(format!("failed to write {}", self.path.display()), e);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        f.write_all(line.as_bytes()).map_err(io)?;
        f.sync_data().map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_warmups_are_counted_per_point_and_torn_lines_are_not() {
        let dir = tempfile::tempdir().unwrap();
        assert!(recorded(dir.path()).unwrap().is_empty());
        std::fs::write(
            dir.path().join(FILE),
            "{\"point_index\":0,\"warmup\":true}\n{\"point_index\":0,\"warmup\":true}\n{\"point_index\":3,\"warmup\":true}\n{\"point_ind",
        )
        .unwrap();
        let done = recorded(dir.path()).unwrap();
        assert_eq!(done.get(&0), Some(&2));
        assert_eq!(done.get(&3), Some(&1));
        assert_eq!(done.len(), 2);
    }
}
