//! Creating and appending to a result set. The journal is appended and flushed to disk as
//! each run ends; the manifest and CSV are replaced atomically (write, fsync, rename).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::store::csv;
use crate::store::record::{Manifest, RunRecord, RunStatus, SetStatus};
use crate::store::resultset::read_journal;

/// An open result set being written by a run (or a resume).
pub struct SetWriter {
    dir: PathBuf,
    journal: File,
    pub manifest: Manifest,
    records: Vec<RunRecord>,
}

/// A fresh result-set id: `<name>-<UTC timestamp>-<4 chars>`.
pub fn new_id(name: &str, now: std::time::SystemTime) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let stamp: String = humantime::format_rfc3339_seconds(now)
        .to_string()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    let suffix: String = (0..4)
        .map(|_| {
            let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
            alphabet[fastrand::usize(..alphabet.len())] as char
        })
        .collect();
    format!("{clean}-{stamp}-{suffix}")
}

/// Writes `data` to `path` atomically: a temporary file, fsync, rename.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).ctx(|| format!("failed to create {}", tmp.display()))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .ctx(|| format!("failed to write {}", tmp.display()))?;
    fs::rename(&tmp, path).ctx(|| format!("failed to replace {}", path.display()))
}

impl SetWriter {
    /// Creates `root/<id>/` with the verbatim inputs and a `running` manifest.
    pub fn create(
        root: &Path,
        manifest: Manifest,
        experiment_src: &str,
        cluster_src: Option<&str>,
    ) -> Result<SetWriter> {
        let dir = root.join(&manifest.id);
        fs::create_dir_all(&dir).ctx(|| format!("failed to create {}", dir.display()))?;
        fs::write(dir.join("experiment.yaml"), experiment_src)
            .ctx(|| format!("failed to write {}/experiment.yaml", dir.display()))?;
        if let Some(c) = cluster_src {
            fs::write(dir.join("cluster.yaml"), c)
                .ctx(|| format!("failed to write {}/cluster.yaml", dir.display()))?;
        }
        let journal_path = dir.join("journal.jsonl");
        let journal = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&journal_path)
            .ctx(|| format!("failed to open {}", journal_path.display()))?;
        let w = SetWriter {
            dir,
            journal,
            manifest,
            records: Vec::new(),
        };
        w.write_manifest()?;
        Ok(w)
    }

    /// Reopens an existing result set for appending (resume).
    pub fn reopen(dir: &Path, manifest: Manifest) -> Result<SetWriter> {
        let journal_path = dir.join("journal.jsonl");
        let records = read_journal(&journal_path)?;
        // A torn last line from a crash is cut off so that appends start on a fresh line.
        truncate_torn_tail(&journal_path)?;
        let journal = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&journal_path)
            .ctx(|| format!("failed to open {}", journal_path.display()))?;
        let mut w = SetWriter {
            dir: dir.to_path_buf(),
            journal,
            manifest,
            records,
        };
        w.manifest.status = SetStatus::Running;
        w.manifest.ended = None;
        w.recount();
        w.write_manifest()?;
        Ok(w)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn records(&self) -> &[RunRecord] {
        &self.records
    }

    /// Appends one finished run and forces it to disk before returning.
    pub fn append(&mut self, record: RunRecord) -> Result<()> {
        let mut line = serde_json::to_string(&record)
            .map_err(|e| Error::Runtime(format!("failed to encode run record: {e}")))?;
        line.push('\n');
        self.journal
            .write_all(line.as_bytes())
            .and_then(|_| self.journal.sync_data())
            .ctx(|| format!("failed to append to {}/journal.jsonl", self.dir.display()))?;
        match record.status {
            RunStatus::Ok => self.manifest.runs_ok += 1,
            RunStatus::Failed => self.manifest.runs_failed += 1,
        }
        self.records.push(record);
        Ok(())
    }

    fn recount(&mut self) {
        self.manifest.runs_ok = self
            .records
            .iter()
            .filter(|r| r.status == RunStatus::Ok)
            .count();
        self.manifest.runs_failed = self.records.len() - self.manifest.runs_ok;
    }

    pub fn write_manifest(&self) -> Result<()> {
        let text = serde_json::to_string_pretty(&self.manifest)
            .map_err(|e| Error::Runtime(format!("failed to encode manifest: {e}")))?;
        write_atomic(&self.dir.join("manifest.json"), text.as_bytes())
    }

    pub fn write_csv(&self) -> Result<()> {
        let mut buf = Vec::new();
        csv::write(&self.manifest, &self.records, &mut buf)?;
        write_atomic(&self.dir.join("results.csv"), &buf)
    }

    /// Marks the set finished with `status`, writing the manifest and `results.csv`.
    pub fn finish(&mut self, status: SetStatus) -> Result<()> {
        self.manifest.status = status;
        self.manifest.ended = Some(crate::store::now_rfc3339());
        self.write_csv()?;
        self.write_manifest()
    }
}

fn truncate_torn_tail(path: &Path) -> Result<()> {
    let data = match fs::read(path) {
        Ok(d) => d,
        Err(_) => return Ok(()),
    };
    if data.is_empty() || data.ends_with(b"\n") {
        return Ok(());
    }
    let keep = data.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .ctx(|| format!("failed to open {}", path.display()))?;
    f.set_len(keep as u64)
        .and_then(|_| f.sync_all())
        .ctx(|| format!("failed to repair {}", path.display()))
}
