//! Getting the code under test onto machines: `sync` (rsync, incremental, `.git` excluded) and
//! `packages` (the distribution's package manager, only what is missing).

use std::path::{Path, PathBuf};

use crate::error::{Error, Location, Result};
use crate::spec::{Experiment, Packages, Sync};
use crate::store::GitInfo;

/// Characters a package name may hold (Debian and RPM names), so that names go into a shell
/// command unquoted and safely.
fn valid_package(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".+-_:".contains(c))
        && !name.starts_with('-')
}

/// The local directory a `sync.from` names, relative to the experiment file.
pub(crate) fn sync_source(exp: &Experiment, sync: &Sync) -> PathBuf {
    let from = Path::new(&sync.from);
    let joined = if from.is_absolute() {
        from.to_path_buf()
    } else {
        exp.path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .join(from)
    };
    // `a/./src` reads better as `a/src` in logs and the manifest.
    joined
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

/// Checks setup entries before anything runs: sources exist, package names are sane.
pub(crate) fn check_setup(exp: &Experiment) -> Result<()> {
    let err = |loc: &Location, m: String| Error::Input {
        location: loc.clone(),
        message: m,
    };
    for s in &exp.setup {
        if let Some(sync) = &s.sync {
            let src = sync_source(exp, sync);
            if !src.is_dir() {
                return Err(err(
                    &s.loc,
                    format!("sync from: {} is not a directory", src.display()),
                ));
            }
            if sync.to.trim().is_empty() {
                return Err(err(&s.loc, "sync to: is empty".into()));
            }
        }
        if let Some(p) = &s.packages {
            if let Some(bad) = p.apt.iter().chain(&p.dnf).find(|n| !valid_package(n)) {
                return Err(err(
                    &s.loc,
                    format!("packages: '{bad}' is not a valid package name"),
                ));
            }
        }
    }
    Ok(())
}

/// The shell program that installs the missing packages with apt-get or dnf (`packages.sh`):
/// the names reach it only through the environment `packages_env` gives.
pub(crate) const PACKAGES_SCRIPT: &str = include_str!("packages.sh");

/// The environment of `PACKAGES_SCRIPT`: the names of a `packages:` entry, space-separated
/// (`check_setup` has refused any name that is not a plain package name).
pub(crate) fn packages_env(p: &Packages) -> Vec<(String, String)> {
    vec![
        ("MPF_APT_PACKAGES".into(), p.apt.join(" ")),
        ("MPF_DNF_PACKAGES".into(), p.dnf.join(" ")),
    ]
}

/// The rsync arguments for a sync, `.git` excluded by default.
pub(crate) fn rsync_args(sync: &Sync, src: &Path) -> Vec<String> {
    let mut args: Vec<String> = vec!["-a".into(), "--exclude=.git".into()];
    args.extend(sync.exclude.iter().map(|e| format!("--exclude={e}")));
    let mut from = src.to_string_lossy().into_owned();
    if !from.ends_with('/') {
        from.push('/');
    }
    args.push(from);
    args
}

/// A script that copies `src` into `to` on this machine: rsync when installed (incremental),
/// else tar (which honours the same excludes). `to` may start with `~/`.
pub(crate) fn local_copy_script(sync: &Sync, src: &Path, to: &str) -> String {
    let q = crate::exec::sh_quote;
    let to_expr = match to.strip_prefix("~/") {
        Some(rest) => format!("\"$HOME\"/{}", q(rest)),
        None if to == "~" => "\"$HOME\"".into(),
        None => q(to),
    };
    let rsync: Vec<String> = rsync_args(sync, src).iter().map(|a| q(a)).collect();
    let mut excludes = vec!["--exclude=.git".to_string()];
    excludes.extend(sync.exclude.iter().map(|e| format!("--exclude={e}")));
    let tar_ex: Vec<String> = excludes.iter().map(|a| q(a)).collect();
    format!(
        "dest={to_expr}\nmkdir -p \"$dest\" || exit 1\nif command -v rsync >/dev/null 2>&1; then\n  rsync {} \"$dest\"/\nelse\n  tar -C {} {} -cf - . | tar -C \"$dest\" -xf -\nfi\n",
        rsync.join(" "),
        q(&src.to_string_lossy()),
        tar_ex.join(" ")
    )
}

/// A script, run on the controller, that copies `src` into `to` on a remote machine over its
/// shared ssh connection: rsync (incremental; a relative path is relative to the remote home,
/// so `~/` is dropped), else tar through one ssh session when rsync is missing on either side.
pub(crate) fn remote_copy_script(
    sync: &Sync,
    src: &Path,
    to: &str,
    ssh: &[String],
    dest: &str,
) -> String {
    let q = crate::exec::sh_quote;
    let to = to.strip_prefix("~/").unwrap_or(to);
    let to = if to == "~" || to.is_empty() { "." } else { to };
    let ssh_line: Vec<String> = ssh.iter().map(|a| q(a)).collect();
    let ssh_line = ssh_line.join(" ");
    let rsync: Vec<String> = rsync_args(sync, src).iter().map(|a| q(a)).collect();
    let mut excludes = vec!["--exclude=.git".to_string()];
    excludes.extend(sync.exclude.iter().map(|e| format!("--exclude={e}")));
    let tar_ex: Vec<String> = excludes.iter().map(|a| q(a)).collect();
    let remote_mkdir = format!("mkdir -p {} && rsync", q(to));
    let remote_untar = format!("mkdir -p {t} && tar -C {t} -xf -", t = q(to));
    format!(
        "if command -v rsync >/dev/null 2>&1 && rsync -e {e} --rsync-path={rp} {args} {d}:{t}/; then exit 0; fi
         echo 'rsync unavailable or failed; copying with tar' >&2
         tar -C {src} {ex} -cf - . | {ssh_line} -- {d} {untar}
",
        e = q(&ssh_line),
        rp = q(&remote_mkdir),
        args = rsync.join(" "),
        d = q(dest),
        t = q(to),
        src = q(&src.to_string_lossy()),
        ex = tar_ex.join(" "),
        untar = q(&remote_untar),
    )
}

/// Git commit and dirtiness of a synced source (a directory, or the one holding a file), for
/// the manifest.
pub(crate) fn source_git(src: &Path) -> Option<GitInfo> {
    // Not `git_info(src/.)`: `Path::parent` of `dir/.` is the directory above `dir`, whose
    // repository may not be the source's.
    if src.is_dir() {
        dir_git(src)
    } else {
        git_info(src)
    }
}

/// The git commit of the directory holding `path`, when it is a repository.
pub(crate) fn git_info(path: &Path) -> Option<GitInfo> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    dir_git(dir)
}

/// The git commit of `dir` and whether its tracked files changed, when it is in a repository.
fn dir_git(dir: &Path) -> Option<GitInfo> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let commit = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let dirty = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["status", "--porcelain", "--untracked-files=no"])
        .stderr(std::process::Stdio::null())
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    Some(GitInfo { commit, dirty })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_info_names_the_commit_of_a_repository_and_whether_it_is_dirty() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.txt");
        std::fs::write(&file, "1").unwrap();
        assert_eq!(git_info(&file), None, "not a repository yet");
        let git = |args: &[&str]| {
            let ok = std::process::Command::new("git")
                .arg("-C")
                .arg(dir.path())
                .args(["-c", "user.name=t", "-c", "user.email=t@t"])
                .args(args)
                .output()
                .unwrap()
                .status
                .success();
            assert!(ok, "git {args:?}");
        };
        git(&["init", "-q"]);
        git(&["add", "a.txt"]);
        git(&["commit", "-qm", "one"]);
        let clean = git_info(&file).unwrap();
        assert_eq!(clean.commit.len(), 40, "{clean:?}");
        assert!(!clean.dirty);
        std::fs::write(&file, "2").unwrap();
        // A synced directory that is a repository's top (the one above it is none): its
        // own commit.
        let dirty = source_git(dir.path()).unwrap();
        assert_eq!(dirty.commit, clean.commit);
        assert!(dirty.dirty);
        assert_eq!(source_git(&file).map(|g| g.commit), Some(clean.commit));
    }

    #[test]
    fn package_names_are_checked() {
        assert!(valid_package("build-essential"));
        assert!(valid_package("libstdc++6:amd64"));
        assert!(!valid_package("gcc; rm -rf /"));
        assert!(!valid_package("-y"));
    }

    /// The names reach `packages.sh` through its environment: with everything installed it
    /// names them and installs nothing (no network, no root needed).
    #[test]
    fn packages_script_reads_names_from_its_environment() {
        if std::process::Command::new("dpkg-query")
            .arg("--version")
            .output()
            .is_err()
        {
            println!("SKIP packages_script_reads_names_from_its_environment: no dpkg-query");
            return;
        }
        let p = Packages {
            apt: vec!["coreutils".into(), "dash".into()],
            dnf: vec!["coreutils".into()],
        };
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(PACKAGES_SCRIPT)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(packages_env(&p))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            stdout.trim(),
            "packages: nothing to install (apt: coreutils dash)"
        );
    }

    #[test]
    fn copy_script_quotes_and_excludes() {
        let s = Sync {
            from: "src".into(),
            to: "~/my dir".into(),
            exclude: vec!["*.o".into()],
        };
        let script = local_copy_script(&s, Path::new("/x/src"), &s.to);
        assert!(script.contains("dest=\"$HOME\"/'my dir'"), "{script}");
        assert!(
            script.contains("rsync -a --exclude=.git '--exclude=*.o' /x/src/ \"$dest\"/"),
            "{script}"
        );
        assert!(
            script.contains("tar -C /x/src --exclude=.git '--exclude=*.o' -cf - ."),
            "{script}"
        );
    }
}
