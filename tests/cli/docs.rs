//! The docs describe what is shipped: no page may say that a feature is missing when it is
//! there. A phrase below in docs/ or the README fails the suite; say what the code does instead.

use std::path::Path;

const STALE: &[&str] = &[
    "not implemented yet",
    "isn't implemented",
    "is not implemented",
    "aren't supported yet",
    "isn't supported yet",
    "not supported yet",
    "coming soon",
    "todo",
];

/// `today` as a word: "the format as mpf implements it today" dates a page the day it is written.
fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[test]
fn docs_never_say_a_shipped_feature_is_missing() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md")];
    for e in std::fs::read_dir(root.join("docs")).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "md") {
            pages.push(e.path());
        }
    }
    let mut found = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for (n, line) in text.lines().enumerate() {
            let lower = line.to_lowercase();
            for phrase in STALE {
                if has_word(&lower, phrase) {
                    found.push(format!("{}:{}: {phrase}", page.display(), n + 1));
                }
            }
            if has_word(&lower, "today") {
                found.push(format!("{}:{}: today", page.display(), n + 1));
            }
        }
    }
    assert!(pages.len() > 5, "docs found: {pages:?}");
    assert!(found.is_empty(), "stale phrases:\n{}", found.join("\n"));
}

/// The shell scripts mpf runs on machines (kept in `.sh` files for this) pass shellcheck as
/// POSIX sh: they run under whatever `/bin/sh` a machine has.
#[test]
fn shell_scripts_pass_shellcheck() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut scripts = Vec::new();
    let mut dirs = vec![root.join("src")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "sh") {
                scripts.push(p);
            }
        }
    }
    assert!(!scripts.is_empty());
    let out = match std::process::Command::new("shellcheck")
        .args(["-s", "sh"])
        .args(&scripts)
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            assert!(
                std::env::var_os("MPF_REQUIRE_SHELLCHECK").is_none(),
                "shellcheck is required (MPF_REQUIRE_SHELLCHECK) but cannot run: {e}"
            );
            println!("SKIP shell_scripts_pass_shellcheck: {e}");
            return;
        }
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
