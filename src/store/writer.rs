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
    journal: Journal,
    pub manifest: Manifest,
    records: Vec<RunRecord>,
    last_manifest_write: std::time::Instant,
}

/// `journal.jsonl`, appended with one `write` per record (so a record survives mpf being
/// killed the moment it returns) and forced to disk by a flusher thread. The next append, and
/// `flush`, wait for the previous sync: at most one finished run is ever not yet on disk,
/// the same bound as a synchronous fsync in progress, while the sync overlaps the next run.
struct Journal {
    file: std::sync::Arc<File>,
    request: Option<std::sync::mpsc::Sender<()>>,
    done: std::sync::mpsc::Receiver<std::io::Result<()>>,
    in_flight: bool,
    flusher: Option<std::thread::JoinHandle<()>>,
}

impl Journal {
    fn new(file: File) -> Journal {
        let file = std::sync::Arc::new(file);
        let (req_tx, req_rx) = std::sync::mpsc::channel::<()>();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let f = file.clone();
        let flusher = std::thread::Builder::new()
            .name("mpf-journal".into())
            .spawn(move || {
                while req_rx.recv().is_ok() {
                    if done_tx.send(f.sync_data()).is_err() {
                        break;
                    }
                }
            })
            .ok();
        Journal {
            file,
            request: flusher.as_ref().map(|_| req_tx),
            done: done_rx,
            in_flight: false,
            flusher,
        }
    }

    /// Waits until every appended record is on disk.
    fn flush(&mut self) -> std::io::Result<()> {
        if self.in_flight {
            self.in_flight = false;
            return self.done.recv().unwrap_or_else(|_| self.file.sync_data());
        }
        Ok(())
    }

    fn append(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.flush()?;
        (&*self.file).write_all(line)?;
        match &self.request {
            Some(tx) if tx.send(()).is_ok() => {
                self.in_flight = true;
                Ok(())
            }
            _ => self.file.sync_data(),
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let _ = self.flush();
        self.request.take();
        if let Some(h) = self.flusher.take() {
            let _ = h.join();
        }
    }
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
        // Absolute, so that `run_dir` means the same place whatever directory a step changes to.
        let dir = fs::canonicalize(&dir).unwrap_or(dir);
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
        let mut w = SetWriter {
            dir,
            journal: Journal::new(journal),
            manifest,
            records: Vec::new(),
            last_manifest_write: std::time::Instant::now(),
        };
        w.write_manifest()?;
        Ok(w)
    }

    /// Reopens an existing result set for appending (resume).
    pub fn reopen(dir: &Path, manifest: Manifest) -> Result<SetWriter> {
        let dir = &fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
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
            journal: Journal::new(journal),
            manifest,
            records,
            last_manifest_write: std::time::Instant::now(),
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
            .append(line.as_bytes())
            .ctx(|| format!("failed to append to {}/journal.jsonl", self.dir.display()))?;
        match record.status {
            RunStatus::Ok => self.manifest.runs_ok += 1,
            RunStatus::Failed => self.manifest.runs_failed += 1,
        }
        self.records.push(record);
        // Keep the counts that `ls` shows roughly current during long experiments.
        if self.last_manifest_write.elapsed() >= std::time::Duration::from_secs(2) {
            self.write_manifest()?;
        }
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

    pub fn write_manifest(&mut self) -> Result<()> {
        self.last_manifest_write = std::time::Instant::now();
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
        self.journal
            .flush()
            .ctx(|| format!("failed to flush {}/journal.jsonl", self.dir.display()))?;
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
