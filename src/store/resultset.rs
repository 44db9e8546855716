//! Finding and loading result sets: `--results DIR`, id prefixes, `latest`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
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
        let records = read_journal(&dir.join(crate::store::layout::JOURNAL))?;
        Ok(ResultSet {
            dir: dir.to_path_buf(),
            manifest,
            records,
        })
    }

    /// The experiment file the set keeps (empty when it cannot be read).
    pub fn experiment_text(&self) -> String {
        experiment_text(&self.dir)
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

/// The experiment file the set in `dir` keeps (empty when it cannot be read).
pub fn experiment_text(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(crate::store::layout::EXPERIMENT)).unwrap_or_default()
}

/// The newest manifest format this mpf writes and reads (SPEC 19). Sets written before the
/// field existed read as format 0; a newer one is refused rather than half-understood.
pub const FORMAT: u32 = 1;

/// The most a manifest may weigh: far beyond any mpf writes (hosts and their facts included),
/// small enough that a hostile file cannot exhaust memory.
const MANIFEST_MAX: u64 = 64 << 20;

pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(crate::store::layout::MANIFEST);
    let unreadable = |what: String| Error::input(&path, 0, 0, what);
    let text = match fs::metadata(&path) {
        Ok(m) if m.len() > MANIFEST_MAX => {
            return Err(unreadable(format!(
                "cannot be read: {} bytes, more than a manifest may hold ({} MiB)",
                m.len(),
                MANIFEST_MAX >> 20
            )))
        }
        _ => fs::read_to_string(&path).map_err(|e| unreadable(format!("cannot be read: {e}")))?,
    };
    parse_manifest(&path, &text)
}

/// Parses a manifest's text: its `format` first, so that a newer mpf's set is refused by name
/// rather than by whichever of its fields this mpf does not know.
pub fn parse_manifest(path: &Path, text: &str) -> Result<Manifest> {
    #[derive(serde::Deserialize)]
    struct Format {
        #[serde(default)]
        format: Option<serde_json::Value>,
    }
    let invalid = |e: serde_json::Error| {
        Error::input(
            path,
            e.line() as u64,
            e.column() as u64,
            format!("not a valid mpf manifest: {e}"),
        )
    };
    let format = serde_json::from_str::<Format>(text)
        .map_err(invalid)?
        .format;
    match format {
        None => {}
        Some(serde_json::Value::Number(n)) if n.as_u64().is_some_and(|f| f <= u64::from(FORMAT)) => {}
        Some(serde_json::Value::Number(n)) if n.as_u64().is_some() => {
            return Err(Error::input(
                path,
                0,
                0,
                format!(
                    "written in result-set format {n}, newer than this mpf reads (format {FORMAT} and older): \
                     read it with a newer mpf (this is mpf {})",
                    crate::VERSION
                ),
            ))
        }
        Some(other) => {
            return Err(Error::input(
                path,
                0,
                0,
                format!("not a valid mpf manifest: format {other} is not a format number (a whole number, 0 or more)"),
            ))
        }
    }
    serde_json::from_str(text).map_err(invalid)
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
fn parse_journal_from(path: &Path, reader: impl std::io::BufRead) -> Result<Vec<RunRecord>> {
    let mut by_index: std::collections::HashMap<usize, usize> = Default::default();
    let mut records: Vec<RunRecord> = Vec::new();
    journal_records(path, reader, |r, _, _| {
        if let Some(&pos) = by_index.get(&r.index) {
            records[pos] = r;
        } else {
            by_index.insert(r.index, records.len());
            records.push(r);
        }
    })?;
    // A vector grown one record at a time holds room for up to twice as many (about 300
    // bytes each: 10 MB at 10^5 runs).
    records.shrink_to_fit();
    Ok(records)
}

/// Visits every record of a journal in file order (a run recorded again comes again: the
/// later wins), one line at a time; a missing journal holds none. The same lines are refused
/// as by `read_journal`.
pub fn visit_journal(path: &Path, each: impl FnMut(RunRecord)) -> Result<()> {
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(format!("failed to read {}", path.display()), e)),
    };
    let mut each = each;
    journal_records(
        path,
        std::io::BufReader::with_capacity(1 << 16, file),
        |r, _, _| each(r),
    )
}

/// Visits every run of a journal in run order (a later line for the same run wins, as in
/// `read_journal`) without holding the journal. A first pass checks that the runs come in
/// increasing order, each once (what `mpf run` writes): then a second visits them as they
/// come, holding nothing per run. Otherwise the first pass notes where each run's last line
/// is (about 50 bytes a run) and a second reads those lines one at a time. The same lines are
/// refused as by `read_journal`.
pub fn for_each_record(path: &Path, mut visit: impl FnMut(RunRecord) -> Result<()>) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let io_err = |e| Error::io(format!("failed to read {}", path.display()), e);
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(e)),
    };
    let mut previous: Option<usize> = None;
    let mut in_order = true;
    journal_records(path, std::io::BufReader::new(&file), |r, _, _| {
        in_order &= previous.is_none_or(|p| p < r.index);
        previous = Some(r.index);
    })?;
    std::io::Seek::rewind(&mut &file).map_err(io_err)?;
    if in_order {
        let mut result = Ok(());
        journal_records(path, std::io::BufReader::new(&file), |r, _, _| {
            if result.is_ok() {
                result = visit(r);
            }
        })?;
        return result;
    }
    let mut last: std::collections::BTreeMap<usize, (u64, usize)> = Default::default();
    journal_records(path, std::io::BufReader::new(&file), |r, at, len| {
        last.insert(r.index, (at, len));
    })?;
    let mut buf = Vec::new();
    for (_, (at, len)) in last {
        buf.resize(len, 0);
        file.read_exact_at(&mut buf, at).map_err(io_err)?;
        let mut record = serde_json::from_slice::<RunRecord>(&buf).map_err(|e| {
            Error::Runtime(format!("{} changed while it was read: {e}", path.display()))
        })?;
        record.shrink();
        visit(record)?;
    }
    Ok(())
}

/// Every record of a journal in file order, with where its line starts and its length (without
/// the newline). A last line without its newline that does not parse is a torn write and ends
/// the journal; any other line that does not parse is refused, naming it.
fn journal_records(
    path: &Path,
    mut reader: impl std::io::BufRead,
    mut each: impl FnMut(RunRecord, u64, usize),
) -> Result<()> {
    let mut line = Vec::new();
    let (mut offset, mut number) = (0u64, 0u64);
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io(format!("failed to read {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        number += 1;
        let complete = line.last() == Some(&b'\n');
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        if !text.trim_ascii().is_empty() {
            match serde_json::from_slice::<RunRecord>(text) {
                Ok(mut r) => {
                    r.shrink();
                    each(r, offset, text.len())
                }
                // The last line without its newline: a torn write, skipped.
                Err(_) if !complete => break,
                Err(e) => return Err(corrupt_line(path, number, &e)),
            }
        }
        offset += n as u64;
    }
    Ok(())
}

fn corrupt_line(path: &Path, line: u64, e: &serde_json::Error) -> Error {
    Error::input(
        path,
        line,
        e.column() as u64,
        format!("corrupt journal line: {e} (mpf only tears the last line; fix or remove this one)"),
    )
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

/// A directory under the results root that holds a `manifest.json` mpf could not read: a
/// newer mpf's format or status, a missing field, no permission. Listings name it rather than
/// leave it out, and `latest` never skips it for an older set.
#[derive(Debug, Clone)]
pub struct Unreadable {
    pub dir: PathBuf,
    /// The directory's name, which is the set's id when mpf wrote it.
    pub id: String,
    /// When it started, as an RFC 3339 UTC time: read from the id's timestamp, else the
    /// manifest's modification time, else empty (unknown: taken as the newest).
    pub started: String,
    /// Why it could not be read (the path included).
    pub error: String,
}

/// What a results directory holds: the sets mpf can read and the ones it cannot, each newest
/// first.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub sets: Vec<(PathBuf, Manifest)>,
    pub unreadable: Vec<Unreadable>,
}

impl Listing {
    /// The unreadable sets that are not provably older than the newest readable one: the ones
    /// a "newest" answer would otherwise skip without a word.
    pub fn unreadable_newer(&self) -> impl Iterator<Item = &Unreadable> {
        let newest = self.sets.first().map(|(_, m)| m.started.as_str());
        self.unreadable.iter().filter(move |u| match newest {
            None => true,
            Some(n) => u.started.is_empty() || u.started.as_str() >= n,
        })
    }
}

/// `2026-12-07T00:54:42Z` from an id `<name>-20261207T005442Z-<4 chars>`.
fn id_time(id: &str) -> Option<String> {
    let mut parts = id.rsplitn(3, '-');
    let (_suffix, stamp) = (parts.next()?, parts.next()?);
    parts.next()?;
    let b = stamp.as_bytes();
    let shape = b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b.iter()
            .enumerate()
            .all(|(i, c)| matches!(i, 8 | 15) || c.is_ascii_digit());
    shape.then(|| {
        format!(
            "{}-{}-{}T{}:{}:{}Z",
            &stamp[0..4],
            &stamp[4..6],
            &stamp[6..8],
            &stamp[9..11],
            &stamp[11..13],
            &stamp[13..15]
        )
    })
}

/// True when `id` has the shape of a set id of the experiment `name`:
/// `<name>-<YYYYMMDDTHHMMSSZ>-<4 chars>` (so `tiny-extra-...` is not a set of `tiny`).
pub fn id_of_experiment(id: &str, name: &str) -> bool {
    let prefix = format!("{}-", crate::store::writer::id_name(name));
    id.strip_prefix(&prefix).is_some_and(|rest| {
        rest.len() == 21 && rest.as_bytes()[16] == b'-' && id_time(&format!("x-{rest}")).is_some()
    })
}

/// Result-set directories under `root`, newest first (ids embed a UTC timestamp; the
/// manifest's start time breaks ties), the readable ones apart from the others.
pub fn list(root: &Path) -> Result<Listing> {
    let mut out = Listing::default();
    let entries = match fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(format!("failed to list {}", root.display()), e)),
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let manifest = dir.join(crate::store::layout::MANIFEST);
        // A directory mpf may not enter could be a set: say so rather than skip it.
        let meta = match fs::metadata(&manifest) {
            Ok(m) if m.is_file() => Some(m),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) if !dir.is_dir() || e.kind() == std::io::ErrorKind::NotADirectory => continue,
            Err(_) => None,
        };
        match read_manifest(&dir) {
            Ok(m) => out.sets.push((dir, m)),
            Err(e) => {
                let id = entry.file_name().to_string_lossy().into_owned();
                let started = id_time(&id)
                    .or_else(|| {
                        let t = meta?.modified().ok()?;
                        Some(humantime::format_rfc3339_seconds(t).to_string())
                    })
                    .unwrap_or_default();
                out.unreadable.push(Unreadable {
                    dir,
                    id,
                    started,
                    error: e.to_string(),
                });
            }
        }
    }
    out.sets.sort_by(|a, b| {
        b.1.started
            .cmp(&a.1.started)
            .then_with(|| b.1.id.cmp(&a.1.id))
    });
    out.unreadable.sort_by(|a, b| {
        let unknown = |u: &Unreadable| u.started.is_empty();
        unknown(b)
            .cmp(&unknown(a))
            .then_with(|| b.started.cmp(&a.started))
            .then_with(|| b.id.cmp(&a.id))
    });
    Ok(out)
}

/// Resolves `ID`: a path to a result set, a pack (`FILE.tar.gz`, `FILE.tar.gz:ID`), `latest`,
/// an exact id or a unique prefix of one.
/// A set mpf cannot read resolves like any other (its directory name is its id), so that the
/// command then fails naming it and why; `latest` is the newest set, readable or not, so that
/// it never silently means an older one.
pub fn resolve(root: &Path, id: &str) -> Result<PathBuf> {
    let as_path = Path::new(id);
    // A pack (`mpf pack`): its only set, or `PACK:ID` for one of several.
    if crate::store::pack::is_pack(as_path) {
        return crate::store::pack::open_set(as_path, None);
    }
    if let Some((file, set)) = id.rsplit_once(':') {
        if crate::store::pack::is_pack(Path::new(file)) {
            return crate::store::pack::open_set(Path::new(file), Some(set));
        }
    }
    match fs::metadata(as_path.join(crate::store::layout::MANIFEST)) {
        Ok(m) if m.is_file() => return Ok(as_path.to_path_buf()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Ok(as_path.to_path_buf())
        }
        _ => {}
    }
    let listing = list(root)?;
    if let Some(back) = latest_back(id)? {
        return nth_newest(&listing, back).ok_or_else(|| {
            match listing.sets.len() + listing.unreadable.len() {
                0 => Error::Usage(format!("no result set in {} ({id})", root.display())),
                n => Error::Usage(format!(
                    "'{id}' is out of range: {} holds {n} result set{} (latest~0 to latest~{})",
                    root.display(),
                    if n == 1 { "" } else { "s" },
                    n - 1
                )),
            }
        });
    }
    let ids = listing
        .sets
        .iter()
        .map(|(p, m)| (p, m.id.as_str()))
        .chain(listing.unreadable.iter().map(|u| (&u.dir, u.id.as_str())));
    let ids: Vec<(&PathBuf, &str)> = ids.collect();
    if let Some((p, _)) = ids.iter().find(|(_, i)| *i == id) {
        return Ok((*p).clone());
    }
    let matches: Vec<&(&PathBuf, &str)> = ids.iter().filter(|(_, i)| i.starts_with(id)).collect();
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
                .map(|(_, i)| *i)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// `latest` is `Some(0)`, `latest~N` is `Some(N)`, anything else `None`; `latest~` with no
/// number, or one that is not a plain decimal, is a usage error rather than an id prefix.
fn latest_back(id: &str) -> Result<Option<usize>> {
    if id == "latest" {
        return Ok(Some(0));
    }
    let Some(n) = id.strip_prefix("latest~") else {
        return Ok(None);
    };
    if n.is_empty() || n.len() > 9 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::Usage(format!(
            "'{id}': after 'latest~' give how many sets back, a number (latest~1 is the set before the newest)"
        )));
    }
    Ok(n.parse().ok())
}

/// The set `back` places before the newest, readable or not: readable and unreadable sets
/// are ordered together by start time (an unreadable set of unknown time counts as the
/// newest, and one started at the same second as a readable one comes first), so that
/// `latest~N` never silently skips a set mpf cannot read.
fn nth_newest(listing: &Listing, back: usize) -> Option<PathBuf> {
    // (unknown time, started, unreadable, id, dir): sorted descending.
    let mut all: Vec<(bool, &str, bool, &str, &PathBuf)> = listing
        .sets
        .iter()
        .map(|(p, m)| (false, m.started.as_str(), false, m.id.as_str(), p))
        .chain(listing.unreadable.iter().map(|u| {
            (
                u.started.is_empty(),
                u.started.as_str(),
                true,
                u.id.as_str(),
                &u.dir,
            )
        }))
        .collect();
    all.sort_by(|a, b| (b.0, b.1, b.2, b.3).cmp(&(a.0, a.1, a.2, a.3)));
    all.get(back).map(|e| e.4.clone())
}

/// Resolves `ID` for a command that writes into the set (`--resume`, `extract`): a packed
/// set is read-only.
pub fn resolve_writable(root: &Path, id: &str) -> Result<PathBuf> {
    let dir = resolve(root, id)?;
    if crate::store::pack::is_cached(&dir) {
        return Err(Error::Usage(format!(
            "'{id}' is a packed set, which is read-only: extract the pack (tar xzf) and give its set directory, or use mpf run --reproduce"
        )));
    }
    Ok(dir)
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
    fn an_id_gives_its_start_time_and_anything_else_none() {
        assert_eq!(
            id_time("a-b-20261207T005442Z-x1y2").as_deref(),
            Some("2026-12-07T00:54:42Z")
        );
        for bad in [
            "20261207T005442Z-x1y2",
            "a-2026120T005442Z-x",
            "a-20261207X005442Z-x",
            "x",
        ] {
            assert_eq!(id_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_id_belongs_to_its_experiment_only() {
        assert!(id_of_experiment("tiny-20261207T005442Z-x1y2", "tiny"));
        assert!(id_of_experiment("a_b-20261207T005442Z-x1y2", "a b"));
        assert!(!id_of_experiment(
            "tiny-extra-20261207T005442Z-x1y2",
            "tiny"
        ));
        assert!(!id_of_experiment("tiny-20261207T005442Z-x1y2z", "tiny"));
    }

    #[test]
    fn a_manifest_of_a_newer_format_is_refused_before_its_fields_are_read() {
        let err =
            parse_manifest(Path::new("m.json"), r#"{"format": 9, "status": "new"}"#).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::exit::INVALID);
        assert!(
            err.to_string().contains("result-set format 9, newer"),
            "{err}"
        );
        let err = parse_manifest(Path::new("m.json"), r#"{"format": 1}"#).unwrap_err();
        assert!(err.to_string().contains("missing field"), "{err}");
    }

    #[test]
    fn a_later_line_for_the_same_run_wins() {
        let data = [line(0), line(1), line(0)].concat();
        assert_eq!(indices(&data).unwrap(), vec![0, 1]);
    }

    fn streamed(data: &[u8]) -> Result<Vec<usize>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        std::fs::write(&path, data).unwrap();
        let mut out = Vec::new();
        for_each_record(&path, |r| {
            out.push(r.index);
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn a_journal_in_order_is_visited_until_the_visitor_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        std::fs::write(&path, [line(0), line(1), line(2)].concat()).unwrap();
        let mut seen = Vec::new();
        let err = for_each_record(&path, |r| {
            seen.push(r.index);
            match r.index {
                1 => Err(Error::Runtime("full disk".into())),
                _ => Ok(()),
            }
        })
        .unwrap_err();
        assert_eq!(
            (seen, err.to_string()),
            (vec![0, 1], "full disk".to_string())
        );
    }

    #[test]
    fn streaming_a_journal_reads_what_loading_it_reads() {
        let torn = line(3);
        let cases = [
            [line(2), line(0), line(1), line(0)].concat(),
            // In order, each run once (what `mpf run` writes): visited as read.
            [line(0), line(1), line(5)].concat(),
            [line(0), line(1), line(1)].concat(),
            [line(0), torn[..torn.len() - 1].to_vec()].concat(),
            [line(0), torn[..20].to_vec()].concat(),
            b"\n\n".to_vec(),
            [line(0), b"{\"index\": garbage\n".to_vec(), line(2)].concat(),
        ];
        for data in cases {
            match (indices(&data), streamed(&data)) {
                (Ok(loaded), Ok(s)) => {
                    let mut sorted = loaded.clone();
                    sorted.sort();
                    assert_eq!(s, sorted, "run order");
                }
                (Err(a), Err(b)) => assert_eq!(a.to_string().replace("j.jsonl", ""), {
                    let t = b.to_string();
                    t[t.find("j.jsonl").unwrap() + 7..].to_string()
                }),
                other => panic!("{other:?}"),
            }
        }
    }
}
