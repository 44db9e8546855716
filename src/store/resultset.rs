//! Finding and loading result sets: `--results DIR`, id prefixes, `latest`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::store::record::{Manifest, RunRecord, RunStatus};

/// Default directory holding result sets.
pub const DEFAULT_ROOT: &str = "mpf_experiments";

/// Where result sets live: the flag, else `MPF_RESULTS`, else `./mpf_experiments`.
pub fn results_root(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    match std::env::var_os("MPF_RESULTS") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(DEFAULT_ROOT),
    }
}

/// A loaded result set.
#[derive(Debug, Clone)]
pub struct ResultSet {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// Every finished run, in journal order (one per run index; later duplicates win).
    pub records: Vec<RunRecord>,
}

impl ResultSet {
    /// Loads `manifest.json` and `journal.jsonl` from a result-set directory.
    pub fn load(dir: &Path) -> Result<ResultSet> {
        let manifest = read_manifest(dir)?;
        let records = read_journal(&dir.join("journal.jsonl"))?;
        Ok(ResultSet {
            dir: dir.to_path_buf(),
            manifest,
            records,
        })
    }

    /// The experiment file the set keeps (empty when it cannot be read).
    pub fn experiment_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("experiment.yaml")).unwrap_or_default()
    }

    /// Successful runs only.
    pub fn ok_records(&self) -> impl Iterator<Item = &RunRecord> {
        self.records.iter().filter(|r| r.status == RunStatus::Ok)
    }

    pub fn variable_names(&self) -> Vec<String> {
        self.manifest
            .variables
            .iter()
            .map(|v| v.name.clone())
            .collect()
    }
}

pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join("manifest.json");
    let text = fs::read_to_string(&path).ctx(|| format!("failed to read {}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        Error::input(
            &path,
            e.line() as u64,
            e.column() as u64,
            format!("not a valid mpf manifest: {e}"),
        )
    })
}

/// Reads a journal, as bytes split on `\n`. The last line may be torn (a crash or a full disk
/// in the middle of a write): whatever its bytes, it is skipped unless it is a complete record
/// that only lacks its newline. Any other bad line is an error naming it: mpf only ever tears
/// the last line, so a bad line before it means the file was damaged or edited, and skipping it
/// would silently lose a recorded run (and make `--resume` run it again).
///
/// The file is read a line at a time: a reader holds the records, not the file's bytes too.
pub fn read_journal(path: &Path) -> Result<Vec<RunRecord>> {
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("failed to read {}", path.display()), e)),
    };
    parse_journal_from(path, std::io::BufReader::with_capacity(1 << 16, file))
}

/// `parse_journal` over a reader, one line at a time.
fn parse_journal_from(path: &Path, mut reader: impl std::io::BufRead) -> Result<Vec<RunRecord>> {
    let mut by_index: std::collections::HashMap<usize, usize> = Default::default();
    let mut records: Vec<RunRecord> = Vec::new();
    let mut line = Vec::new();
    for i in 0.. {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io(format!("failed to read {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        let whole = line.last() == Some(&b'\n');
        if line.trim_ascii().is_empty() {
            continue;
        }
        let r = match serde_json::from_slice::<RunRecord>(&line) {
            Ok(r) => r,
            // The last line, without its newline: a torn write, skipped.
            Err(_) if !whole => break,
            Err(e) => {
                return Err(Error::input(
                    path,
                    i as u64 + 1,
                    e.column() as u64,
                    format!(
                        "corrupt journal line: {e} (mpf only tears the last line; fix or remove this one)"
                    ),
                ))
            }
        };
        if let Some(&pos) = by_index.get(&r.index) {
            records[pos] = r;
        } else {
            by_index.insert(r.index, records.len());
            records.push(r);
        }
    }
    Ok(records)
}

/// Length of the journal's intact part: everything up to the last newline, plus a last line
/// without one when it holds a complete record. What follows is a torn write.
pub fn journal_intact_len(data: &[u8]) -> usize {
    let keep = data.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    match serde_json::from_slice::<RunRecord>(&data[keep..]) {
        Ok(_) => data.len(),
        Err(_) => keep,
    }
}

#[cfg(test)]
fn parse_journal(path: &Path, data: &[u8]) -> Result<Vec<RunRecord>> {
    parse_journal_from(path, data)
}

/// Result-set directories under `root`, newest first (ids embed a UTC timestamp; the
/// manifest's start time breaks ties).
pub fn list(root: &Path) -> Result<Vec<(PathBuf, Manifest)>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(format!("failed to list {}", root.display()), e)),
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        if !dir.join("manifest.json").is_file() {
            continue;
        }
        if let Ok(m) = read_manifest(&dir) {
            out.push((dir, m));
        }
    }
    out.sort_by(|a, b| {
        b.1.started
            .cmp(&a.1.started)
            .then_with(|| b.1.id.cmp(&a.1.id))
    });
    Ok(out)
}

/// Resolves `ID`: a path to a result set, `latest`, an exact id or a unique prefix of one.
pub fn resolve(root: &Path, id: &str) -> Result<PathBuf> {
    let as_path = Path::new(id);
    if as_path.join("manifest.json").is_file() {
        return Ok(as_path.to_path_buf());
    }
    let sets = list(root)?;
    if id == "latest" {
        return sets
            .into_iter()
            .next()
            .map(|(p, _)| p)
            .ok_or_else(|| Error::Usage(format!("no result set in {} (latest)", root.display())));
    }
    if let Some((p, _)) = sets.iter().find(|(_, m)| m.id == id) {
        return Ok(p.clone());
    }
    let matches: Vec<&(PathBuf, Manifest)> =
        sets.iter().filter(|(_, m)| m.id.starts_with(id)).collect();
    match matches.len() {
        1 => Ok(matches[0].0.clone()),
        0 => Err(Error::Usage(format!(
            "no result set matches '{id}' in {}",
            root.display()
        ))),
        _ => Err(Error::Usage(format!(
            "'{id}' is ambiguous in {}: {}",
            root.display(),
            matches
                .iter()
                .map(|(_, m)| m.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Resolves and loads in one step.
pub fn open(root: &Path, id: &str) -> Result<ResultSet> {
    ResultSet::load(&resolve(root, id)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(index: usize) -> Vec<u8> {
        let mut r = serde_json::to_vec(&serde_json::json!({
            "index": index, "point_index": 0, "point": {"x": "é"}, "repetition": 0,
            "status": "ok", "attempts": 1, "results": {}, "steps": [],
            "started": "s", "ended": "e"
        }))
        .unwrap();
        r.push(b'\n');
        r
    }

    fn indices(data: &[u8]) -> Result<Vec<usize>> {
        parse_journal(Path::new("j.jsonl"), data).map(|v| v.iter().map(|r| r.index).collect())
    }

    #[test]
    fn a_last_line_torn_inside_a_utf8_character_is_skipped() {
        let second = line(1);
        let cut = second.iter().position(|&b| b == 0xC3).unwrap() + 1;
        let data = [line(0), second[..cut].to_vec()].concat();
        assert!(std::str::from_utf8(&data).is_err());
        assert_eq!(indices(&data).unwrap(), vec![0]);
    }

    #[test]
    fn a_last_line_torn_inside_json_is_skipped() {
        let data = [line(0), line(1)[..20].to_vec()].concat();
        assert_eq!(indices(&data).unwrap(), vec![0]);
        assert_eq!(journal_intact_len(&data), line(0).len());
    }

    #[test]
    fn a_complete_last_record_without_newline_is_kept() {
        let second = line(1);
        let data = [line(0), second[..second.len() - 1].to_vec()].concat();
        assert_eq!(indices(&data).unwrap(), vec![0, 1]);
        assert_eq!(journal_intact_len(&data), data.len());
    }

    #[test]
    fn empty_and_blank_journals_hold_nothing() {
        assert_eq!(indices(b"").unwrap(), Vec::<usize>::new());
        assert_eq!(indices(b"\n\n").unwrap(), Vec::<usize>::new());
    }

    #[test]
    fn a_corrupt_middle_line_is_an_error_naming_it() {
        for bad in [&b"{\"index\": garbage\n"[..], &b"\xff\xfe\n"[..]] {
            let data = [line(0), bad.to_vec(), line(2)].concat();
            let err = indices(&data).unwrap_err();
            assert_eq!(err.exit_code(), crate::error::exit::INVALID);
            assert!(err.to_string().starts_with("j.jsonl:2:"), "{err}");
        }
    }

    #[test]
    fn a_later_line_for_the_same_run_wins() {
        let data = [line(0), line(1), line(0)].concat();
        assert_eq!(indices(&data).unwrap(), vec![0, 1]);
    }
}
