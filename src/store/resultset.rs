//! Finding and loading result sets: `--results DIR`, id prefixes, `latest`.

use std::fs;
use std::io::{BufRead, BufReader};
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

/// Reads a journal. A torn last line (a crash in the middle of a write) is ignored;
/// a bad line elsewhere is an error naming it.
pub fn read_journal(path: &Path) -> Result<Vec<RunRecord>> {
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("failed to open {}", path.display()), e)),
    };
    let lines: Vec<String> = BufReader::new(file)
        .lines()
        .collect::<std::io::Result<_>>()
        .ctx(|| format!("failed to read {}", path.display()))?;
    let mut by_index: std::collections::BTreeMap<usize, usize> = Default::default();
    let mut records: Vec<RunRecord> = Vec::new();
    let last = lines.len();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<RunRecord>(line) {
            Ok(r) => {
                if let Some(&pos) = by_index.get(&r.index) {
                    records[pos] = r;
                } else {
                    by_index.insert(r.index, records.len());
                    records.push(r);
                }
            }
            Err(_) if i + 1 == last => break,
            Err(e) => {
                return Err(Error::input(
                    path,
                    i as u64 + 1,
                    e.column() as u64,
                    format!("corrupt journal line: {e}"),
                ))
            }
        }
    }
    Ok(records)
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
