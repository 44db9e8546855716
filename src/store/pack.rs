//! Packed result sets (SPEC 19): `mpf pack` writes a `.tar.gz` holding each set whole under
//! `sets/<id>/`, a generated `ARTIFACT.md` and `SHA256SUMS`; `mpf verify` checks it; every
//! reading command opens a pack as a set by extracting it, once, into a cache.
//!
//! A pack is hostile input: extraction creates only plain files and directories whose every
//! path component is a plain name, inside a fresh directory, with bounded sizes and counts;
//! links, devices, `..` and absolute paths are refused.

use std::fs;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::store::record::Manifest;
use crate::store::resultset::{read_journal, read_manifest};
use crate::text::escape_markdown as cell;

/// The most one file of a pack may hold once extracted.
pub const MAX_FILE: u64 = 1 << 30;
/// The most a whole pack may hold once extracted.
pub const MAX_TOTAL: u64 = 4 << 30;
/// The most entries a pack may have.
pub const MAX_ENTRIES: usize = 200_000;

const SUMS: &str = "SHA256SUMS";
const ARTIFACT: &str = "ARTIFACT.md";

/// True when `path` is a file that starts like a gzip stream (a pack, not a set directory).
pub fn is_pack(path: &Path) -> bool {
    let mut magic = [0u8; 2];
    path.is_file()
        && fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok()
        && magic == [0x1f, 0x8b]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every file under `dir`, relative, sorted; symlinks and other non-files are returned apart
/// (a pack holds none).
fn files_under(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let here = dir.join(&rel);
        let entries = fs::read_dir(&here)
            .map_err(|e| Error::io(format!("failed to list {}", here.display()), e))?;
        for e in entries {
            let e = e.map_err(|e| Error::io(format!("failed to list {}", here.display()), e))?;
            let t = e.file_type().map_err(|e| Error::io("failed to stat", e))?;
            let r = rel.join(e.file_name());
            if t.is_dir() {
                stack.push(r);
            } else if t.is_file() {
                files.push(r);
            } else {
                skipped.push(r);
            }
        }
    }
    files.sort();
    skipped.sort();
    Ok((files, skipped))
}

/// Writes a pack of the set directories `sets` to `out` (`name` is the pack's file name, for
/// the instructions in ARTIFACT.md). A set without its `report.html` gets one from
/// `write_report` (the caller's: the store draws nothing). Returns notes on what was left out.
pub fn write_pack(
    sets: &[PathBuf],
    name: &str,
    out: impl Write,
    write_report: &dyn Fn(&crate::store::ResultSet, &Path) -> Result<()>,
) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    let mut members: Vec<(String, PathBuf)> = Vec::new();
    let mut manifests = Vec::new();
    // Reports drawn for sets that have none, kept until they are packed.
    let drawn = TempDir(std::env::temp_dir().join(format!(
        "mpf-pack-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    )));
    for dir in sets {
        let m = read_manifest(dir)?;
        if manifests.iter().any(|x: &Manifest| x.id == m.id) {
            continue;
        }
        let (files, skipped) = files_under(dir)?;
        for s in skipped {
            notes.push(format!(
                "{}: {} left out (not a plain file)",
                m.id,
                s.display()
            ));
        }
        for f in files {
            if f == Path::new(crate::store::layout::LOCK) {
                continue;
            }
            let rel = f.to_str().ok_or_else(|| {
                Error::Usage(format!(
                    "{}: a file name that is not UTF-8 cannot be packed",
                    f.display()
                ))
            })?;
            members.push((format!("sets/{}/{rel}", m.id), dir.join(&f)));
        }
        if !dir.join(crate::store::layout::REPORT).is_file() {
            let report = drawn.0.join(format!("{}.html", manifests.len()));
            let written = fs::create_dir_all(&drawn.0)
                .map_err(|e| Error::io("failed to create a temporary directory", e))
                .and_then(|_| crate::store::ResultSet::load(dir))
                .and_then(|set| write_report(&set, &report));
            match written {
                Ok(()) => members.push((format!("sets/{}/report.html", m.id), report)),
                Err(e) => notes.push(format!("{}: no report.html in the pack: {e}", m.id)),
            }
        }
        manifests.push(m);
    }
    let artifact = artifact_md(&manifests, name);
    let gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mut sums = String::new();
    let append = |tar: &mut tar::Builder<_>, path: &str, data: &mut dyn Read, len: u64| {
        let mut h = tar::Header::new_ustar();
        h.set_size(len);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, path, data)
            .map_err(|e| Error::io(format!("failed to pack {path}"), e))
    };
    let sum_line = |sums: &mut String, path: &str, digest: &[u8]| {
        sums.push_str(&format!("{}  {path}\n", hex(digest)));
    };
    append(
        &mut tar,
        ARTIFACT,
        &mut artifact.as_bytes(),
        artifact.len() as u64,
    )?;
    sum_line(&mut sums, ARTIFACT, &Sha256::digest(artifact.as_bytes()));
    for (path, file) in &members {
        let io = |e| Error::io(format!("failed to read {}", file.display()), e);
        // Hashed while it is packed: the sum is of the very bytes in the archive.
        let f = fs::File::open(file).map_err(io)?;
        let len = f.metadata().map_err(io)?.len();
        let mut hashing = Hashing {
            inner: f.take(len),
            hash: Sha256::new(),
        };
        append(&mut tar, path, &mut hashing, len)?;
        sum_line(&mut sums, path, &hashing.hash.finalize());
    }
    append(&mut tar, SUMS, &mut sums.as_bytes(), sums.len() as u64)?;
    let gz = tar
        .into_inner()
        .map_err(|e| Error::io("failed to write the pack", e))?;
    gz.finish()
        .map_err(|e| Error::io("failed to write the pack", e))?;
    Ok(notes)
}

struct Hashing<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// `ARTIFACT.md`: what ran, on what hardware, how long, how to re-plot and re-run.
pub fn artifact_md(sets: &[Manifest], name: &str) -> String {
    let mut s = String::new();
    let title: Vec<&str> = sets.iter().map(|m| m.name.as_str()).collect();
    s.push_str(&format!("# Artifact: {}\n\n", title.join(", ")));
    s.push_str(&format!(
        "Packed by mpf {} from {} result set{}. Every file is listed with its SHA-256 in \
         `SHA256SUMS`; `mpf verify {name}` checks them and rebuilds each set's results from its \
         journal.\n",
        crate::VERSION,
        sets.len(),
        if sets.len() == 1 { "" } else { "s" }
    ));
    for m in sets {
        s.push_str(&format!("\n## {}\n\n", m.id));
        if !m.description.is_empty() {
            s.push_str(&format!("{}\n\n", m.description));
        }
        s.push_str(&format!(
            "- experiment: `{}` (file `sets/{}/experiment.yaml`)\n",
            m.name, m.id
        ));
        s.push_str(&format!(
            "- status: {}; {} recorded of {} planned\n",
            m.status_text(),
            crate::words::count(m.runs_ok + m.runs_failed, "run"),
            m.planned_runs
        ));
        let took = m
            .ended
            .as_deref()
            .and_then(|e| {
                let a = humantime::parse_rfc3339(&m.started).ok()?;
                let b = humantime::parse_rfc3339(e).ok()?;
                let d = b.duration_since(a).ok()?;
                Some(
                    humantime::format_duration(std::time::Duration::from_millis(
                        d.as_millis() as u64
                    ))
                    .to_string(),
                )
            })
            .unwrap_or_else(|| "unknown (the set has no end time)".into());
        s.push_str(&format!(
            "- ran: {} to {} ({took})\n",
            m.started,
            m.ended.as_deref().unwrap_or("?")
        ));
        s.push_str(&format!(
            "- plan: seed `{}`, order {}, {} per point, mpf {}{}\n",
            m.seed,
            m.order,
            crate::words::count(m.runs_per_point, "run"),
            m.mpf_version,
            m.git
                .as_ref()
                .map(|g| format!(
                    ", experiment at git commit {}{}",
                    g.commit,
                    if g.dirty { " (dirty)" } else { "" }
                ))
                .unwrap_or_default()
        ));
        for v in &m.variables {
            s.push_str(&format!(
                "- variable `{}`: {}\n",
                v.name,
                v.labels.join(", ")
            ));
        }
        let results: Vec<String> = m
            .results
            .iter()
            .filter(|r| !r.name.ends_with(".duration"))
            .map(|r| {
                if r.unit.is_empty() {
                    format!("`{}`", r.name)
                } else {
                    format!("`{}` ({})", r.name, r.unit)
                }
            })
            .collect();
        s.push_str(&format!("- results: {}\n", results.join(", ")));
        s.push_str("\n### Hardware\n\n| machine | roles | CPU | cores | memory | kernel | OS |\n|---|---|---|---|---|---|---|\n");
        for h in &m.hosts {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                cell(&h.name),
                cell(&h.roles.join(", ")),
                cell(&h.cpu_model),
                h.cores,
                crate::units::humanise(h.memory_bytes as f64, "B"),
                cell(&h.kernel),
                cell(&h.os)
            ));
        }
        s.push_str(&format!(
            "\n### Re-plot and re-run\n\n```sh\nmpf show {name}:{id}          # the runs\nmpf plot {name}:{id}          # the graphs\nmpf report {name}:{id}        # the HTML report\nmpf verify {name}\nmpf run --reproduce {name}:{id} [-c cluster.yaml]   # run it again, compared with this set\n```\n\nThe experiment's own files are `sets/{id}/experiment.yaml` and `sets/{id}/cluster.yaml` (when it had one); \
             `mpf run sets/{id}/experiment.yaml -c sets/{id}/cluster.yaml` runs it from scratch.\n",
            id = m.id
        ));
    }
    s
}

/// Extracts `pack` into the fresh directory `into` (which must not exist), safely: see the
/// module's documentation. Returns the relative paths of the files, in archive order.
pub fn extract(pack: &Path, into: &Path) -> Result<Vec<String>> {
    let bad = |what: String| Error::input(pack, 0, 0, format!("not a valid mpf pack: {what}"));
    let file = fs::File::open(pack)
        .map_err(|e| Error::input(pack, 0, 0, format!("cannot be read: {e}")))?;
    fs::create_dir(into)
        .map_err(|e| Error::io(format!("failed to create {}", into.display()), e))?;
    let mut archive =
        tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    let mut names = Vec::new();
    let mut total = 0u64;
    let entries = archive.entries().map_err(|e| bad(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        if names.len() >= MAX_ENTRIES {
            return Err(bad(format!("more than {MAX_ENTRIES} entries")));
        }
        let path = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
        let shown = path.display().to_string();
        let mut rel = PathBuf::new();
        for c in path.components() {
            match c {
                Component::Normal(n) => rel.push(n),
                Component::CurDir => {}
                _ => return Err(bad(format!("'{shown}' leaves the pack (absolute or '..')"))),
            }
        }
        let Some(rel_str) = rel.to_str().map(str::to_string) else {
            return Err(bad(format!("'{shown}' is not UTF-8")));
        };
        if rel_str.is_empty() {
            continue;
        }
        let target = into.join(&rel);
        match entry.header().entry_type() {
            // pax global headers (`git archive` writes one) carry no file.
            tar::EntryType::XGlobalHeader => continue,
            tar::EntryType::Directory => {
                fs::create_dir_all(&target).map_err(|e| bad(format!("'{shown}': {e}")))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry.header().size().map_err(|e| bad(e.to_string()))?;
                if size > MAX_FILE {
                    return Err(bad(format!(
                        "'{shown}' holds {size} bytes, more than {MAX_FILE}"
                    )));
                }
                total += size;
                if total > MAX_TOTAL {
                    return Err(bad(format!("more than {MAX_TOTAL} bytes in all")));
                }
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(|e| bad(format!("'{shown}': {e}")))?;
                }
                let mut out = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&target)
                    .map_err(|e| bad(format!("'{shown}': {e} (twice in the pack?)")))?;
                let copied = std::io::copy(&mut (&mut entry).take(size), &mut out)
                    .map_err(|e| bad(format!("'{shown}': {e}")))?;
                if copied != size {
                    return Err(bad(format!("'{shown}' is cut short")));
                }
                names.push(rel_str);
            }
            other => {
                return Err(bad(format!(
                    "'{shown}' is a {other:?}, not a plain file (packs hold no links or devices)"
                )))
            }
        }
    }
    // Read the gzip stream to its end, so that its CRC is checked (tar stops at its end
    // marker): whatever follows the marker must be tar's zero padding, and little of it.
    let mut rest = archive.into_inner().take(1 << 20);
    let mut tail = [0u8; 8192];
    loop {
        match rest.read(&mut tail) {
            Ok(0) => break,
            Ok(n) if tail[..n].iter().all(|&b| b == 0) => {}
            Ok(_) => return Err(bad("data after the end of the archive".into())),
            Err(e) => return Err(bad(e.to_string())),
        }
    }
    if rest.limit() == 0 {
        return Err(bad("more than 1 MiB after the end of the archive".into()));
    }
    let mut file = rest.into_inner().into_inner();
    if !matches!(file.read(&mut tail[..1]), Ok(0)) {
        return Err(bad("data after the end of the gzip stream".into()));
    }
    Ok(names)
}

/// The directory of the set `id` (or the only set) in a pack, extracted once into the cache
/// (`$MPF_CACHE`, else `$XDG_CACHE_HOME/mpf`, else `~/.cache/mpf`) under the pack's SHA-256.
pub fn open_set(pack: &Path, id: Option<&str>) -> Result<PathBuf> {
    let dir = cached(pack)?;
    let sets_dir = dir.join("sets");
    let mut ids: Vec<String> = fs::read_dir(&sets_dir)
        .map_err(|_| Error::input(pack, 0, 0, "not a valid mpf pack: it holds no sets/"))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    let pick = match id {
        Some(id) => ids
            .iter()
            .find(|i| *i == id)
            .or_else(|| {
                let m: Vec<_> = ids.iter().filter(|i| i.starts_with(id)).collect();
                (m.len() == 1).then(|| m[0])
            })
            .ok_or_else(|| {
                Error::Usage(format!(
                    "{}: no single set matches '{id}' (it holds {})",
                    pack.display(),
                    ids.join(", ")
                ))
            })?,
        None => match ids.as_slice() {
            [only] => only,
            _ => {
                return Err(Error::Usage(format!(
                    "{} holds {} sets: name one as {}:ID ({})",
                    pack.display(),
                    ids.len(),
                    pack.display(),
                    ids.join(", ")
                )))
            }
        },
    };
    Ok(sets_dir.join(pick))
}

/// Every set id a pack holds, as extracted in the cache.
pub fn set_ids(pack: &Path) -> Result<Vec<String>> {
    let dir = cached(pack)?;
    let mut ids: Vec<String> = fs::read_dir(dir.join("sets"))
        .map_err(|_| Error::input(pack, 0, 0, "not a valid mpf pack: it holds no sets/"))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    Ok(ids)
}

/// True when `dir` is inside the cache of extracted packs.
pub fn is_cached(dir: &Path) -> bool {
    let root = cache_root();
    let canon = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    canon(dir).starts_with(canon(&root))
}

fn cache_root() -> PathBuf {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("MPF_CACHE")
        .or_else(|| var("XDG_CACHE_HOME").map(|p| p.join("mpf")))
        .or_else(|| var("HOME").map(|p| p.join(".cache/mpf")))
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("mpf-cache-{}", unsafe { libc::getuid() }))
        })
        .join("packs")
}

/// The pack extracted in the cache: `<cache>/packs/<sha256>/`, made by extracting into a
/// temporary sibling and renaming it into place, so that a reader never sees half a pack.
pub fn cached(pack: &Path) -> Result<PathBuf> {
    let digest = {
        let mut f = fs::File::open(pack)
            .map_err(|e| Error::input(pack, 0, 0, format!("cannot be read: {e}")))?;
        let mut h = Sha256::new();
        std::io::copy(&mut f, &mut h)
            .map_err(|e| Error::io(format!("failed to read {}", pack.display()), e))?;
        hex(&h.finalize())
    };
    let root = cache_root();
    let dir = root.join(&digest);
    if dir.is_dir() {
        return Ok(dir);
    }
    fs::create_dir_all(&root)
        .map_err(|e| Error::io(format!("failed to create {}", root.display()), e))?;
    let tmp = root.join(format!(".{digest}.{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    if let Err(e) = extract(pack, &tmp) {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    match fs::rename(&tmp, &dir) {
        Ok(()) => Ok(dir),
        // Another reader extracted it first: theirs is the same.
        Err(_) if dir.is_dir() => {
            let _ = fs::remove_dir_all(&tmp);
            Ok(dir)
        }
        Err(e) => Err(Error::io(format!("failed to create {}", dir.display()), e)),
    }
}

/// What `mpf verify` found.
#[derive(Debug, Default)]
pub struct Verdict {
    /// The sets checked.
    pub sets: Vec<String>,
    /// Files checked against SHA256SUMS.
    pub files: usize,
    /// Every difference, one line each; empty when the pack verifies.
    pub problems: Vec<String>,
}

/// Verifies a pack: extracted afresh into a temporary directory (never the cache), every
/// file against SHA256SUMS (none missing, none unlisted), then each set's results rebuilt
/// from its journal against its `results.csv`.
pub fn verify(pack: &Path) -> Result<Verdict> {
    let tmp = TempDir(std::env::temp_dir().join(format!(
        "mpf-verify-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    )));
    let root = tmp.0.clone();
    let mut v = Verdict::default();
    let names = match extract(pack, &root) {
        Ok(n) => n,
        Err(e) => {
            v.problems.push(format!("the archive cannot be read: {e}"));
            return Ok(v);
        }
    };
    let sums = match fs::read_to_string(root.join(SUMS)) {
        Ok(s) => s,
        Err(e) => {
            v.problems.push(format!("{SUMS} cannot be read: {e}"));
            return Ok(v);
        }
    };
    let mut listed = std::collections::BTreeSet::new();
    for (i, line) in sums.lines().enumerate() {
        let Some((sum, name)) = line.split_once("  ") else {
            v.problems
                .push(format!("{SUMS} line {}: not `SUM  FILE`", i + 1));
            continue;
        };
        let name = name.to_string();
        if !names.contains(&name) {
            v.problems
                .push(format!("{name}: listed in {SUMS} but not in the pack"));
            continue;
        }
        listed.insert(name.clone());
        let mut h = Sha256::new();
        let read = fs::File::open(root.join(&name)).and_then(|mut f| std::io::copy(&mut f, &mut h));
        match read {
            Ok(_) if hex(&h.finalize()) == sum => v.files += 1,
            Ok(_) => v.problems.push(format!(
                "{name}: its SHA-256 differs from {SUMS} (changed since it was packed)"
            )),
            Err(e) => v.problems.push(format!("{name}: {e}")),
        }
    }
    for n in &names {
        if n != SUMS && !listed.contains(n) {
            v.problems.push(format!(
                "{n}: in the pack but not in {SUMS} (added since it was packed)"
            ));
        }
    }
    let sets_dir = root.join("sets");
    let mut ids: Vec<String> = fs::read_dir(&sets_dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    if ids.is_empty() {
        v.problems.push("the pack holds no sets/".into());
    }
    for id in ids {
        let dir = sets_dir.join(&id);
        match rebuilt_matches(&dir) {
            Ok(diffs) => v
                .problems
                .extend(diffs.into_iter().map(|d| format!("sets/{id}: {d}"))),
            Err(e) => v.problems.push(format!(
                "sets/{id}: {}",
                e.to_string().replace(&root.display().to_string(), ".")
            )),
        }
        v.sets.push(id);
    }
    Ok(v)
}

/// A directory removed when it goes out of scope.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The set's `results.csv` against the one its journal rebuilds: what differs.
fn rebuilt_matches(dir: &Path) -> Result<Vec<String>> {
    let manifest = read_manifest(dir)?;
    let records = read_journal(&dir.join(crate::store::layout::JOURNAL))?;
    let mut rebuilt = Vec::new();
    crate::store::csv::write(&manifest, &records, &mut rebuilt)?;
    let stored = match fs::read(dir.join(crate::store::layout::RESULTS_CSV)) {
        Ok(s) => s,
        Err(e) => return Ok(vec![format!("results.csv cannot be read: {e}")]),
    };
    if stored == rebuilt {
        return Ok(Vec::new());
    }
    let (a, b) = (
        String::from_utf8_lossy(&stored),
        String::from_utf8_lossy(&rebuilt),
    );
    let (al, bl): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let mut out = Vec::new();
    for i in 0..al.len().max(bl.len()) {
        let (x, y) = (al.get(i), bl.get(i));
        if x != y {
            out.push(format!(
                "results.csv line {} differs from the journal's: stored `{}`, rebuilt `{}`",
                i + 1,
                x.copied().unwrap_or("(none)"),
                y.copied().unwrap_or("(none)")
            ));
            if out.len() == 10 {
                out.push("(more lines differ)".into());
                break;
            }
        }
    }
    if out.is_empty() {
        out.push("results.csv differs from the one its journal rebuilds (line endings)".into());
    }
    Ok(out)
}
