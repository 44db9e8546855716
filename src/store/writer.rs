//! Creating and appending to a result set. The journal is appended and flushed to disk as
//! each run ends; the manifest and CSV are replaced atomically (write, fsync, rename).

use crate::store::layout;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::store::csv;
use crate::store::kept::Kept;
use crate::store::record::{Manifest, RunRecord, RunStatus, SetStatus};
use crate::store::resultset::{for_each_record, journal_intact_len};

/// An open result set being written by a run (or a resume).
pub struct SetWriter {
    dir: PathBuf,
    /// Held for the whole session; the kernel releases it when mpf exits, however it exits.
    _lock: SetLock,
    journal: Journal,
    pub manifest: Manifest,
    /// What the session keeps of each run: see [`Kept`].
    kept: Kept,
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
    /// The file's length: where a failed append is cut back to (kept here rather than asked
    /// of the file before every append).
    len: u64,
}

impl Journal {
    fn new(file: File) -> std::io::Result<Journal> {
        let len = file.metadata()?.len();
        let file = std::sync::Arc::new(file);
        let (req_tx, req_rx) = std::sync::mpsc::channel::<()>();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let f = file.clone();
        let flusher = std::thread::Builder::new()
            .name("mpf-journal".into())
            .spawn(move || {
                let mut placement = crate::placement::Helper::new();
                while req_rx.recv().is_ok() {
                    placement.keep_off_run_thread();
                    if done_tx.send(f.sync_data()).is_err() {
                        break;
                    }
                }
            })
            .ok();
        Ok(Journal {
            file,
            request: flusher.as_ref().map(|_| req_tx),
            done: done_rx,
            in_flight: false,
            flusher,
            len,
        })
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
        if let Err(e) = (&*self.file).write_all(line) {
            // A partial record (a full disk) is taken back, so that the journal stays whole
            // even when the session goes on or nothing repairs it.
            if self.file.set_len(self.len).is_err() {
                self.len = self.file.metadata().map_or(self.len, |m| m.len());
            }
            return Err(e);
        }
        self.len += line.len() as u64;
        crate::placement::note_run_thread();
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

/// The one-writer lock of a result set: an exclusive `flock` on `.lock` in the set, which
/// holds the writer's pid so that a second writer can say who holds it.
struct SetLock {
    _file: File,
}

/// File name of the writer lock inside a result set.
pub const LOCK_FILE: &str = layout::LOCK;

impl SetLock {
    fn acquire(dir: &Path) -> Result<SetLock> {
        use std::os::fd::AsRawFd;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .ctx(|| format!("failed to open {}", path.display()))?;
        // SAFETY: flock on a descriptor we own; no memory is shared with the kernel.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(Error::Usage(format!(
                    "result set {} is being written by another mpf ({}); wait for it to end or stop it",
                    dir.display(),
                    holder_text(&path)
                )));
            }
            return Err(Error::io(format!("failed to lock {}", path.display()), err));
        }
        file.set_len(0)
            .and_then(|_| writeln!(file, "{}", std::process::id()))
            .ctx(|| format!("failed to write {}", path.display()))?;
        Ok(SetLock { _file: file })
    }
}

/// `pid N: command line` of the process named in a lock file, as far as it can be known.
fn holder_text(lock: &Path) -> String {
    let text = fs::read(lock).unwrap_or_default();
    let text = String::from_utf8_lossy(&text[..text.len().min(32)]).into_owned();
    let Ok(pid) = text.trim().parse::<u32>() else {
        return "pid unknown".into();
    };
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmd: String = String::from_utf8_lossy(&cmdline[..cmdline.len().min(300)])
        .split('\0')
        .filter(|a| !a.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if cmd.is_empty() {
        format!("pid {pid}")
    } else {
        format!("pid {pid}: {cmd}")
    }
}

/// The experiment's name as its set ids begin: `a b/c` -> `a_b_c`.
pub fn id_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A fresh result-set id: `<name>-<UTC timestamp>-<4 chars>`.
pub fn new_id(name: &str, now: std::time::SystemTime) -> String {
    let clean = id_name(name);
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
    write_atomic_with(path, |f| {
        f.write_all(data)
            .map_err(|e| Error::io(format!("failed to write {}", path.display()), e))
    })
}

/// Replaces `dir/manifest.json`, encoding it straight into the file: a sweep's manifest lists
/// every value of its variables (megabytes at 10^5 points), which a session writing it every
/// two seconds would otherwise hold as text, twice while the text grew.
fn write_manifest_file(dir: &Path, manifest: &Manifest) -> Result<()> {
    let path = dir.join(layout::MANIFEST);
    write_atomic_with(&path, |out| {
        serde_json::to_writer_pretty(out, manifest).map_err(|e| match e.io_error_kind() {
            Some(kind) => Error::io(format!("failed to write {}", path.display()), kind.into()),
            None => Error::Runtime(format!("failed to encode manifest: {e}")),
        })
    })
}

/// Like `write_atomic`, for output too big to hold in memory: `write` streams it into the
/// temporary file, which replaces `path` only when `write` succeeded.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<File>) -> Result<()>,
) -> Result<()> {
    // `NAME.tmp`, not a changed extension: `a.json` and `a.csv` never share a temporary.
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let io_err = |e| Error::io(format!("failed to write {}", path.display()), e);
    let written = File::create(&tmp)
        .map_err(io_err)
        .and_then(|f| {
            let mut w = std::io::BufWriter::new(f);
            write(&mut w)?;
            let f = w.into_inner().map_err(|e| io_err(e.into_error()))?;
            f.sync_all().map_err(io_err)
        })
        .and_then(|_| fs::rename(&tmp, path).map_err(io_err));
    if written.is_err() {
        // The old file stays whole; a half-written temporary would only take space.
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// Creates `root/<id>/` for a fresh id of `name`, never reusing a directory that exists: on a
/// collision it takes another id, so that two sets (or deploys) are never merged into one.
/// Returns the id and the directory.
pub fn create_unique_dir(root: &Path, name: &str, first_id: String) -> Result<(String, PathBuf)> {
    fs::create_dir_all(root).ctx(|| format!("failed to create {}", root.display()))?;
    let mut id = first_id;
    for _ in 0..100 {
        let dir = root.join(&id);
        match fs::create_dir(&dir) {
            Ok(()) => return Ok((id, dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                id = new_id(name, std::time::SystemTime::now());
            }
            Err(e) => return Err(Error::io(format!("failed to create {}", dir.display()), e)),
        }
    }
    Err(Error::Runtime(format!(
        "failed to create a directory in {}: every id tried exists",
        root.display()
    )))
}

impl SetWriter {
    /// Creates `root/<id>/` with the verbatim inputs and a `running` manifest.
    pub fn create(
        root: &Path,
        manifest: Manifest,
        experiment_src: &str,
        cluster_src: Option<&str>,
    ) -> Result<SetWriter> {
        let mut manifest = manifest;
        let (id, dir) = create_unique_dir(root, &manifest.name, manifest.id.clone())?;
        manifest.id = id;
        let lock = SetLock::acquire(&dir)?;
        // Absolute, so that `run_dir` means the same place whatever directory a step changes to.
        let dir = fs::canonicalize(&dir).unwrap_or(dir);
        fs::write(dir.join(layout::EXPERIMENT), experiment_src)
            .ctx(|| format!("failed to write {}/experiment.yaml", dir.display()))?;
        if let Some(c) = cluster_src {
            fs::write(dir.join(layout::CLUSTER), c)
                .ctx(|| format!("failed to write {}/cluster.yaml", dir.display()))?;
        }
        let journal_path = dir.join(layout::JOURNAL);
        let journal = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&journal_path)
            .ctx(|| format!("failed to open {}", journal_path.display()))?;
        let mut w = SetWriter {
            dir,
            _lock: lock,
            journal: Journal::new(journal)
                .ctx(|| format!("failed to open {}", journal_path.display()))?,
            manifest,
            kept: Kept::default(),
            last_manifest_write: std::time::Instant::now(),
        };
        w.write_manifest()?;
        Ok(w)
    }

    /// Reopens an existing result set for appending (resume).
    pub fn reopen(dir: &Path, manifest: Manifest) -> Result<SetWriter> {
        let dir = &fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let lock = SetLock::acquire(dir)?;
        let journal_path = dir.join(layout::JOURNAL);
        // Counted only: the runs are kept by the session, which has the plan to place them
        // (`keep`).
        let (mut ok, mut failed) = (0, 0);
        for_each_record(&journal_path, |r| {
            match r.status {
                RunStatus::Ok => ok += 1,
                RunStatus::Failed => failed += 1,
            }
            Ok(())
        })?;
        // Appends must start on a fresh line: a torn last line is cut off.
        repair_journal(&journal_path)?;
        let journal = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&journal_path)
            .ctx(|| format!("failed to open {}", journal_path.display()))?;
        let mut w = SetWriter {
            dir: dir.to_path_buf(),
            _lock: lock,
            journal: Journal::new(journal)
                .ctx(|| format!("failed to open {}", journal_path.display()))?,
            manifest,
            kept: Kept::default(),
            last_manifest_write: std::time::Instant::now(),
        };
        w.manifest.status = SetStatus::Running;
        w.manifest.ended = None;
        w.manifest.runs_ok = ok;
        w.manifest.runs_failed = failed;
        w.write_manifest()?;
        Ok(w)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The set's runs as the session needs them (the design's rounds): index, point,
    /// repetition, status and numeric results; the rest of each record is in the journal
    /// only, so that a session's memory does not grow with what its runs print.
    pub fn kept(&self) -> &Kept {
        &self.kept
    }

    /// Makes room for `runs` more runs at once (at most 2^20); `results`: whether the runs'
    /// results are kept (the design reads them).
    pub fn reserve(&mut self, runs: usize, results: bool) {
        self.kept.reserve(runs);
        if !results {
            self.kept.drop_results();
        }
    }

    /// Appends one finished run and forces it to disk before returning.
    pub fn append(&mut self, mut record: RunRecord) -> Result<()> {
        // The series' samples first: a failure to write them is a note, never a lost run. A
        // run that had an attempt ran in a directory its preparation emptied: without series
        // there is no earlier series.csv of it to remove (an `unlink` of nothing, 4% of a short
        // run's thread on a disk). One recorded without an attempt (a block switch that
        // failed) may still hold one.
        let series = crate::store::series::write_run(&self.dir, &record, record.attempts == 0);
        match series {
            Ok(note) => record.notes.extend(note),
            Err(e) => record.notes.push(format!("series.csv not written: {e}")),
        }
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
        self.kept.push(&record, Some(record.point_index));
        // Keep the counts that `ls` shows roughly current during long experiments.
        if self.last_manifest_write.elapsed() >= std::time::Duration::from_secs(2) {
            self.write_manifest()?;
        }
        Ok(())
    }

    /// Takes `kept` as the set's runs so far (a resumed set's journal, each run at the plan's
    /// point: see [`Kept::push`]), and counts them.
    pub fn keep(&mut self, kept: Kept) {
        self.kept = kept;
        self.manifest.runs_ok = self.kept.ok();
        self.manifest.runs_failed = self.kept.len() - self.manifest.runs_ok;
    }

    pub fn write_manifest(&mut self) -> Result<()> {
        self.last_manifest_write = std::time::Instant::now();
        write_manifest_file(&self.dir, &self.manifest)
    }

    /// Writes `results.csv` from the journal, a run at a time.
    pub fn write_csv(&self) -> Result<()> {
        let journal = self.dir.join(layout::JOURNAL);
        write_atomic_with(&self.dir.join(layout::RESULTS_CSV), |out| {
            csv::write_journal(&self.manifest, &journal, out)
        })
    }

    /// Marks the set finished with `status`, writing the manifest and `results.csv`. The kept
    /// runs are let go first (nothing reads them once the set is finished): `results.csv`'s
    /// pass over the journal holds an index of its own, and both at once were the session's
    /// peak (heaptrack of a 30,000-point sweep: 2.6 MB kept, 1.5 MB the index).
    pub fn finish(&mut self, status: SetStatus) -> Result<()> {
        self.journal
            .flush()
            .ctx(|| format!("failed to flush {}/journal.jsonl", self.dir.display()))?;
        self.kept = Kept::default();
        self.manifest.status = status;
        self.manifest.ended = Some(crate::store::now_rfc3339());
        self.write_csv()?;
        self.write_manifest()
    }
}

/// A rewrite of a set's derived files by `mpf extract`, holding the set's lock from before
/// its journal is read until the new generation is in place. The current files keep their
/// names (every reader reads them); the ones they replace are kept as generation `N`:
/// `journal.N.jsonl`, `manifest.N.json`, `results.N.csv` and, when the experiment file
/// changes, `experiment.N.yaml` (1 for the files of the first run, counting up).
pub struct Rewrite {
    dir: PathBuf,
    _lock: SetLock,
}

/// Files a new generation replaces, as (current name, stem, extension).
const GENERATION_FILES: [(&str, &str, &str); 4] = [
    (layout::JOURNAL, "journal", "jsonl"),
    (layout::MANIFEST, "manifest", "json"),
    (layout::RESULTS_CSV, "results", "csv"),
    (layout::EXPERIMENT, "experiment", "yaml"),
];

impl Rewrite {
    /// Takes the set's lock; refused while another mpf writes the set.
    pub fn begin(dir: &Path) -> Result<Rewrite> {
        let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let lock = SetLock::acquire(&dir)?;
        Ok(Rewrite { dir, _lock: lock })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The number the files being replaced take: one more than any kept generation.
    fn next_generation(&self) -> usize {
        let mut n = 1;
        while self.dir.join(format!("journal.{n}.jsonl")).exists() {
            n += 1;
        }
        n
    }

    /// Keeps the current files as generation `N`, then writes the new ones (each atomically,
    /// so that at every moment a reader finds a whole journal). Returns `N`.
    pub fn commit(
        self,
        manifest: &Manifest,
        records: &[RunRecord],
        experiment_src: Option<&str>,
    ) -> Result<usize> {
        let mut journal = self.new_journal()?;
        let mut sorted: Vec<&RunRecord> = records.iter().collect();
        sorted.sort_by_key(|r| r.index);
        for r in sorted {
            journal.push(r)?;
        }
        self.commit_journal(journal, manifest, experiment_src)
    }

    /// The new generation's journal, written a run at a time into a temporary file beside the
    /// current one, which stays the set's journal until [`Rewrite::commit_journal`]: a set of
    /// 10^5 runs is rewritten without holding its records (SPEC §15), and one that fails half
    /// way keeps its results as they were.
    pub fn new_journal(&self) -> Result<NewJournal> {
        let path = self.dir.join(format!("{}.tmp", layout::JOURNAL));
        let file = File::create(&path).ctx(|| format!("failed to create {}", path.display()))?;
        Ok(NewJournal {
            out: std::io::BufWriter::with_capacity(1 << 16, file),
            path,
            done: false,
        })
    }

    /// Keeps the current files as generation `N`, then puts `journal` in place (a rename) and
    /// writes `results.csv` from it and the manifest (each atomically). Returns `N`.
    pub fn commit_journal(
        self,
        mut journal: NewJournal,
        manifest: &Manifest,
        experiment_src: Option<&str>,
    ) -> Result<usize> {
        let io_err = |e| Error::io(format!("failed to write {}", journal.path.display()), e);
        journal.out.flush().map_err(io_err)?;
        journal.out.get_ref().sync_all().map_err(io_err)?;
        let n = self.next_generation();
        for (name, stem, ext) in GENERATION_FILES {
            if name == layout::EXPERIMENT && experiment_src.is_none() {
                continue;
            }
            let from = self.dir.join(name);
            let to = self.dir.join(format!("{stem}.{n}.{ext}"));
            if from.exists() {
                fs::hard_link(&from, &to)
                    .or_else(|_| fs::copy(&from, &to).map(|_| ()))
                    .ctx(|| format!("failed to keep {} as {}", from.display(), to.display()))?;
            }
        }
        if let Some(src) = experiment_src {
            write_atomic(&self.dir.join(layout::EXPERIMENT), src.as_bytes())?;
        }
        let path = self.dir.join(layout::JOURNAL);
        fs::rename(&journal.path, &path).map_err(io_err)?;
        journal.done = true;
        write_atomic_with(&self.dir.join(layout::RESULTS_CSV), |out| {
            csv::write_journal(manifest, &path, out)
        })?;
        write_manifest_file(&self.dir, manifest)?;
        Ok(n)
    }
}

/// A new journal being written by [`Rewrite::new_journal`]; removed unless committed.
pub struct NewJournal {
    out: std::io::BufWriter<File>,
    path: PathBuf,
    done: bool,
}

impl NewJournal {
    /// Appends a run (callers give them in run order).
    pub fn push(&mut self, r: &RunRecord) -> Result<()> {
        serde_json::to_writer(&mut self.out, r).map_err(|e| match e.io_error_kind() {
            Some(kind) => Error::io(
                format!("failed to write {}", self.path.display()),
                kind.into(),
            ),
            None => Error::Runtime(format!("failed to encode run record: {e}")),
        })?;
        self.out
            .write_all(b"\n")
            .map_err(|e| Error::io(format!("failed to write {}", self.path.display()), e))
    }
}

impl Drop for NewJournal {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Makes the journal end with a complete line before appending: a torn last line is cut off,
/// and a complete record that lost only its newline gets one.
fn repair_journal(path: &Path) -> Result<()> {
    let data = match fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(format!("failed to read {}", path.display()), e)),
    };
    if data.is_empty() || data.ends_with(b"\n") {
        return Ok(());
    }
    let keep = journal_intact_len(&data);
    let mut f = OpenOptions::new()
        .write(true)
        .open(path)
        .ctx(|| format!("failed to open {}", path.display()))?;
    let repaired = if keep == data.len() {
        use std::io::{Seek, SeekFrom};
        f.seek(SeekFrom::End(0)).and_then(|_| f.write_all(b"\n"))
    } else {
        f.set_len(keep as u64)
    };
    repaired
        .and_then(|_| f.sync_all())
        .ctx(|| format!("failed to repair {}", path.display()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::record::SetStatus;
    use crate::store::resultset::read_journal;

    /// A run that passed, its point and results given as JSON objects.
    pub(crate) fn ok_record(
        index: usize,
        point: serde_json::Value,
        rep: usize,
        results: serde_json::Value,
    ) -> RunRecord {
        RunRecord::ok(
            index,
            point.as_object().unwrap().clone(),
            rep,
            results.as_object().unwrap().clone(),
        )
    }

    pub(crate) fn manifest(id: &str) -> Manifest {
        Manifest {
            format: crate::store::resultset::FORMAT,
            mpf_version: "test".into(),
            id: id.into(),
            name: "t".into(),
            description: String::new(),
            status: SetStatus::Running,
            started: "2026-01-01T00:00:00.000Z".into(),
            ended: None,
            seed: "s".into(),
            order: "sequential".into(),
            runs_per_point: 1,
            planned_runs: 3,
            variables: Vec::new(),
            results: Vec::new(),
            hosts: Vec::new(),
            git: None,
            synced: Vec::new(),
            experiment_hash: "0".into(),
            overrides: Default::default(),
            runs_ok: 0,
            runs_failed: 0,
            plot: None,
            requirements: None,
            adaptive: None,
            points: Vec::new(),
            search: None,
            limits: Vec::new(),
            sessions: Vec::new(),
            blocks: Vec::new(),
        }
    }

    pub(crate) fn record(index: usize) -> RunRecord {
        RunRecord {
            started: "s".into(),
            ended: "e".into(),
            ..RunRecord::ok(index, Default::default(), 0, Default::default())
        }
    }

    #[test]
    fn a_colliding_id_gets_a_fresh_directory_and_never_merges() {
        let root = tempfile::tempdir().unwrap();
        let taken = root.path().join("t-1");
        fs::create_dir(&taken).unwrap();
        fs::write(taken.join(layout::JOURNAL), "other set\n").unwrap();
        let w = SetWriter::create(root.path(), manifest("t-1"), "name: t\n", None).unwrap();
        assert_ne!(w.manifest.id, "t-1");
        assert!(w.dir().ends_with(&w.manifest.id));
        assert_eq!(
            fs::read_to_string(taken.join(layout::JOURNAL)).unwrap(),
            "other set\n"
        );
        assert!(!taken.join(layout::MANIFEST).exists());
    }

    #[test]
    fn a_unique_directory_takes_another_id_when_the_first_is_taken() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir(root.path().join("d-1")).unwrap();
        let (id, dir) = create_unique_dir(root.path(), "d", "d-1".into()).unwrap();
        assert!(id.starts_with("d-") && id != "d-1", "{id}");
        assert_eq!(dir, root.path().join(&id));
        assert!(
            fs::read_dir(&dir).unwrap().next().is_none(),
            "a new, empty directory"
        );
    }

    #[test]
    fn a_second_writer_is_refused_with_the_holders_pid_until_the_first_ends() {
        let root = tempfile::tempdir().unwrap();
        let mut first = SetWriter::create(root.path(), manifest("t-2"), "x", None).unwrap();
        first.append(record(0)).unwrap();
        let dir = first.dir().to_path_buf();
        let err = SetWriter::reopen(&dir, manifest("t-2")).err().unwrap();
        assert_eq!(err.exit_code(), crate::error::exit::INVALID);
        let text = err.to_string();
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        assert!(text.contains("being written by another mpf"), "{text}");
        drop(first);
        let second = SetWriter::reopen(&dir, manifest("t-2")).unwrap();
        assert_eq!(
            (second.manifest.runs_ok, second.manifest.runs_failed),
            (1, 0)
        );
    }

    #[test]
    fn a_rewrite_waits_for_no_writer_and_keeps_the_old_generation() {
        let root = tempfile::tempdir().unwrap();
        let mut w = SetWriter::create(root.path(), manifest("t-3"), "x", None).unwrap();
        w.append(record(0)).unwrap();
        assert_eq!(w.kept().len(), 1);
        w.finish(SetStatus::Complete).unwrap();
        // Let go at the end; the counts and results.csv are from the whole journal.
        assert!(w.kept().is_empty());
        assert_eq!((w.manifest.runs_ok, w.manifest.runs_failed), (1, 0));
        let csv = fs::read_to_string(w.dir().join(layout::RESULTS_CSV)).unwrap();
        assert_eq!(csv.lines().count(), 2, "{csv}");
        let dir = w.dir().to_path_buf();
        let err = Rewrite::begin(&dir).err().unwrap().to_string();
        assert!(err.contains("being written by another mpf"), "{err}");
        drop(w);
        let old = fs::read(dir.join(layout::JOURNAL)).unwrap();
        let rw = Rewrite::begin(&dir).unwrap();
        assert!(SetWriter::reopen(&dir, manifest("t-3")).is_err(), "held");
        let n = rw
            .commit(&manifest("t-3"), &[record(1), record(0)], Some("y"))
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(fs::read(dir.join("journal.1.jsonl")).unwrap(), old);
        assert_eq!(
            fs::read_to_string(dir.join("experiment.1.yaml")).unwrap(),
            "x"
        );
        assert_eq!(
            fs::read_to_string(dir.join(layout::EXPERIMENT)).unwrap(),
            "y"
        );
        let now = read_journal(&dir.join(layout::JOURNAL)).unwrap();
        assert_eq!(now.iter().map(|r| r.index).collect::<Vec<_>>(), [0, 1]);
        let n = Rewrite::begin(&dir)
            .unwrap()
            .commit(&manifest("t-3"), &now, None)
            .unwrap();
        assert_eq!(n, 2);
        assert!(!dir.join("experiment.2.yaml").exists());
    }

    #[test]
    fn a_new_journal_replaces_the_set_s_only_when_committed() {
        let root = tempfile::tempdir().unwrap();
        let mut w = SetWriter::create(root.path(), manifest("t-4"), "x", None).unwrap();
        w.append(record(0)).unwrap();
        w.finish(SetStatus::Complete).unwrap();
        let dir = w.dir().to_path_buf();
        drop(w);
        let files = [layout::JOURNAL, layout::RESULTS_CSV, layout::MANIFEST];
        let before: Vec<Vec<u8>> = files
            .iter()
            .map(|f| fs::read(dir.join(f)).unwrap())
            .collect();
        // A rewrite that fails half way (its new journal dropped) leaves the set as it was.
        let rw = Rewrite::begin(&dir).unwrap();
        let mut journal = rw.new_journal().unwrap();
        journal.push(&record(0)).unwrap();
        let tmp = dir.join("journal.jsonl.tmp");
        assert!(tmp.exists());
        drop((journal, rw));
        assert!(!tmp.exists(), "the unfinished journal is removed");
        let after: Vec<Vec<u8>> = files
            .iter()
            .map(|f| fs::read(dir.join(f)).unwrap())
            .collect();
        assert!(before == after, "the set's files are untouched");
        assert!(!dir.join("journal.1.jsonl").exists());
        // Committed: the runs pushed are the journal, results.csv is made from it.
        let rw = Rewrite::begin(&dir).unwrap();
        let mut journal = rw.new_journal().unwrap();
        for i in 0..3 {
            journal.push(&record(i)).unwrap();
        }
        assert_eq!(fs::read(dir.join(layout::JOURNAL)).unwrap(), before[0]);
        let n = rw.commit_journal(journal, &manifest("t-4"), None).unwrap();
        assert_eq!(n, 1);
        assert!(!tmp.exists());
        assert_eq!(fs::read(dir.join("journal.1.jsonl")).unwrap(), before[0]);
        let now = read_journal(&dir.join(layout::JOURNAL)).unwrap();
        assert_eq!(now.iter().map(|r| r.index).collect::<Vec<_>>(), [0, 1, 2]);
        let csv = fs::read_to_string(dir.join(layout::RESULTS_CSV)).unwrap();
        assert_eq!(csv.lines().count(), 4, "{csv}");
    }

    fn reopened_journal(content: &[u8]) -> (Vec<usize>, Vec<u8>) {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("set");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join(layout::JOURNAL), content).unwrap();
        let mut w = SetWriter::reopen(&dir, manifest("set")).unwrap();
        let counted = w.manifest.runs_ok + w.manifest.runs_failed;
        w.append(record(9)).unwrap();
        drop(w);
        let journal = dir.join(layout::JOURNAL);
        let indices: Vec<usize> = read_journal(&journal)
            .unwrap()
            .iter()
            .map(|r| r.index)
            .collect();
        assert_eq!(counted + 1, indices.len(), "the runs reopen counted");
        (indices, fs::read(journal).unwrap())
    }

    fn line(index: usize) -> Vec<u8> {
        let mut l = serde_json::to_vec(&record(index)).unwrap();
        l.push(b'\n');
        l
    }

    #[test]
    fn reopen_cuts_a_torn_line_inside_a_utf8_character_and_appends_after_it() {
        let mut data = line(0);
        let full = serde_json::to_vec(&RunRecord {
            error: Some("é".repeat(4)),
            ..record(1)
        })
        .unwrap();
        let cut = full.iter().position(|&b| b == 0xC3).unwrap() + 1;
        data.extend_from_slice(&full[..cut]);
        let (indices, after) = reopened_journal(&data);
        assert_eq!(indices, vec![0, 9]);
        assert_eq!(after, [line(0), line(9)].concat());
    }

    #[test]
    fn reopen_keeps_a_complete_last_record_without_its_newline() {
        let mut data = line(0);
        data.extend_from_slice(&line(1)[..line(1).len() - 1]);
        let (indices, after) = reopened_journal(&data);
        assert_eq!(indices, vec![0, 1, 9]);
        assert_eq!(after, [line(0), line(1), line(9)].concat());
    }

    #[test]
    fn reopen_of_an_empty_or_missing_journal_starts_it() {
        let (indices, after) = reopened_journal(b"");
        assert_eq!(indices, vec![9]);
        assert_eq!(after, line(9));
    }

    #[test]
    fn temporaries_are_named_after_the_whole_file_name() {
        let dir = tempfile::tempdir().unwrap();
        // What `a.csv` would have used as its temporary under the old naming.
        fs::create_dir(dir.path().join("a.tmp")).unwrap();
        write_atomic(&dir.path().join("a.json"), b"{}").unwrap();
        write_atomic(&dir.path().join("a.csv"), b"x").unwrap();
        assert_eq!(fs::read(dir.path().join("a.json")).unwrap(), b"{}");
        assert!(!dir.path().join("a.json.tmp").exists());
    }

    #[test]
    fn a_failed_manifest_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(layout::MANIFEST);
        write_atomic(&path, b"old").unwrap();
        // A directory where the temporary goes makes the write fail.
        fs::create_dir(dir.path().join("manifest.json.tmp")).unwrap();
        let err = write_atomic(&path, b"new").unwrap_err().to_string();
        assert!(err.contains("manifest.json"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"old");
    }
}
