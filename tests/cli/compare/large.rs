//! `mpf compare` of sets with more entries than its page and its Markdown list (SPEC §15): what
//! matters is listed first, the bound holds, and what was left out is counted and said.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::mpf_in;
use crate::fixtures;

/// Points of the sets below (one run each, one result: `rate`, higher is better).
const POINTS: usize = 6000;

/// A set `id` of `POINTS` points, its journal written straight to disk (a `SetWriter` would
/// sync every run); `factor(x)` scales the rate at point x.
fn set(root: &Path, id: &str, factor: impl Fn(usize) -> f64) {
    set_of(root, id, POINTS, factor)
}

/// `set` of `points` points.
fn set_of(root: &Path, id: &str, points: usize, factor: impl Fn(usize) -> f64) {
    fixtures::sweep_set(root, id, ("rate", "bit/s"), points, |i| {
        1e9 * (1.0 + (i % 100) as f64 / 100.0) * factor(i)
    });
}

const BASE: &str = "big-20261125T100000Z-base";
const NEW: &str = "big-20261125T110000Z-new0";
const WORSE: &str = "big-20261125T120000Z-wrse";

/// NEW regresses at the 30 points x = 7 mod 200 and improves at the 12 points x = 3 mod 500;
/// WORSE regresses everywhere.
fn sets(root: &Path) {
    set(root, BASE, |_| 1.0);
    set(root, NEW, |i| match (i % 200, i % 500) {
        (7, _) => 0.8,
        (_, 3) => 1.25,
        _ => 1.0,
    });
    set(root, WORSE, |_| 0.8);
}

/// The first cell (the verdict) of each row of the page's table.
fn html_verdicts(html: &str) -> Vec<&str> {
    html.split("<tr class=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect()
}

/// Parses `text` with Python's standard library (`script` reads it from stdin): the page's
/// tags must balance, the XML must parse. Prints what the script prints.
fn python(script: &str, text: &str) -> String {
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 (installed by .ci/run)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python3 -c {script} failed");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Every element of the page closed in order (void elements aside).
const BALANCED_HTML: &str = r#"
import sys
from html.parser import HTMLParser
VOID = {"meta", "br", "hr", "img", "input", "link"}
class P(HTMLParser):
    def __init__(self):
        super().__init__(); self.stack = []; self.rows = 0
    def handle_starttag(self, tag, attrs):
        if tag == "tr": self.rows += 1
        if tag not in VOID: self.stack.append(tag)
    def handle_startendtag(self, tag, attrs): pass
    def handle_endtag(self, tag):
        if tag in VOID: return
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
        self.stack.pop()
p = P(); p.feed(sys.stdin.read()); p.close()
assert not p.stack, p.stack
print(p.rows)
"#;

#[test]
fn a_page_of_more_entries_than_it_lists_shows_regressions_first_and_says_what_it_left_out() {
    let tmp = tempfile::tempdir().unwrap();
    sets(&tmp.path().join("results"));
    mpf_in(tmp.path())
        .args(["compare", BASE, NEW, "--html", "c.html", "--junit", "j.xml"])
        .assert()
        .code(3);
    let html = std::fs::read_to_string(tmp.path().join("c.html")).unwrap();
    assert!(html.len() < 10 << 20, "{} bytes", html.len());
    let verdicts = html_verdicts(&html);
    assert_eq!(verdicts.len(), 2000, "the bound of the page's table");
    assert!(verdicts[..30].iter().all(|v| *v == "regression"));
    assert!(verdicts[30..42].iter().all(|v| *v == "improvement"));
    assert!(verdicts[42..].iter().all(|v| *v == "unchanged"));
    assert!(html.contains(
        "This comparison has 6000 entries (points × results), more than a page lists one by one (2000): listed are all 30 regressions, all 12 improvements and the first 1958 of the 5958 unchanged; the other 4000 are left out. The figures cover every point; <code>mpf compare big-20261125T100000Z-base big-20261125T110000Z-new0</code> prints every entry, and <code>--json FILE</code> writes them all."
    ));
    // The header row and the 2000 listed, every element closed.
    assert_eq!(python(BALANCED_HTML, &html), "2001");
    // The figure draws every point of both sets, binned.
    assert!(html.contains("<figure class=\"compare-figure\" data-result=\"rate\">"));

    // JUnit keeps one test case per entry, written as it is made.
    let xml = std::fs::read_to_string(tmp.path().join("j.xml")).unwrap();
    let script = "import sys, xml.etree.ElementTree as ET\n\
                  cases = ET.fromstring(sys.stdin.read()).find('testsuite').findall('testcase')\n\
                  print(len(cases), sum(1 for c in cases if c.find('failure') is not None))";
    assert_eq!(python(script, &xml), "6000 30");
}

/// The rows of the Markdown table, each whole: `| ... |`.
fn md_rows(md: &str) -> Vec<&str> {
    let rows: Vec<&str> = md
        .lines()
        .skip_while(|l| !l.starts_with("| verdict |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .collect();
    for r in &rows {
        assert!(r.ends_with(" |") && r.matches(" | ").count() >= 9, "{r}");
    }
    rows
}

#[test]
fn markdown_fits_a_pull_request_comment_regressions_first_saying_how_many_were_left_out() {
    let tmp = tempfile::tempdir().unwrap();
    sets(&tmp.path().join("results"));
    mpf_in(tmp.path())
        .args(["compare", BASE, NEW, "--markdown", "c.md"])
        .assert()
        .code(3);
    let md = std::fs::read_to_string(tmp.path().join("c.md")).unwrap();
    assert!(md.len() <= 65_536, "{} bytes", md.len());
    assert!(md.starts_with("## ❌ mpf compare: 30 regressions\n"));
    assert!(md.contains("**30 regressions, 12 improvements, 5958 unchanged**"));
    let rows = md_rows(&md);
    let listed = rows.len();
    assert!((100..2000).contains(&listed), "{listed} rows");
    assert!(rows[..30]
        .iter()
        .all(|r| r.starts_with("| ❌ regression |")));
    assert!(rows[30..42]
        .iter()
        .all(|r| r.starts_with("| ✅ improvement |")));
    assert!(rows[42..].iter().all(|r| r.starts_with("| ➖ unchanged |")));
    let said = format!(
        "_{} of 6000 entries (points × results) are left out to fit a pull-request comment (65536 characters); listed are all 30 regressions, all 12 improvements and the first {} of the 5958 unchanged. `mpf compare big-20261125T100000Z-base big-20261125T110000Z-new0` prints every entry, and `--json FILE` writes them all._",
        6000 - listed,
        listed - 42
    );
    assert!(md.contains(&said), "missing {said}");
    // The table is the last thing but the notes: nothing cut after it.
    assert!(md.ends_with("|\n") || md.lines().last().unwrap().starts_with("> "));

    // More regressions than fit: the first of them, and the page lists the first 2000.
    mpf_in(tmp.path())
        .args(["compare", BASE, WORSE, "--markdown", "-", "--html", "w.html"])
        .assert()
        .code(3)
        .stdout(predicates::function::function(|md: &str| {
            let rows = md_rows(md);
            md.len() <= 65_536
                && rows.iter().all(|r| r.starts_with("| ❌ regression |"))
                && md.contains(&format!(
                    "_{} of 6000 entries (points × results) are left out to fit a pull-request comment (65536 characters); listed are the first {} of the 6000 regressions.",
                    6000 - rows.len(),
                    rows.len()
                ))
        }));
    let html = std::fs::read_to_string(tmp.path().join("w.html")).unwrap();
    assert!(html.contains(
        "listed are the first 2000 of the 6000 regressions; the other 4000 are left out."
    ));
}

#[test]
fn points_only_in_one_set_are_listed_up_to_a_bound_saying_how_many_more() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("results");
    set_of(&root, BASE, 100, |_| 1.0);
    set_of(&root, NEW, 2600, |_| 1.0);
    mpf_in(tmp.path())
        .args([
            "compare",
            BASE,
            NEW,
            "--html",
            "c.html",
            "--markdown",
            "c.md",
        ])
        .assert()
        .success();
    let html = std::fs::read_to_string(tmp.path().join("c.html")).unwrap();
    let only = &html[html.find("<h2>Only in new (not compared)</h2>").unwrap()..];
    assert!(only.contains(
        "2500 points are only in new: the first 2000 are listed; <code>--json FILE</code> writes them all."
    ));
    let list = &only[..only.find("</ul>").unwrap()];
    assert_eq!(list.matches("<li>").count(), 2000);
    assert!(list.contains("<li>x=2099</li>") && !list.contains("<li>x=2100</li>"));
    assert_eq!(python(BALANCED_HTML, &html), "101");

    let md = std::fs::read_to_string(tmp.path().join("c.md")).unwrap();
    let only = &md[md.find("**Only in new** (not compared):").unwrap()..];
    let items: Vec<&str> = only.lines().filter(|l| l.starts_with("- ")).collect();
    assert_eq!(items.len(), 51);
    assert_eq!(items[0], "- x=100");
    assert_eq!(items[49], "- x=149");
    assert_eq!(items[50], "- … and 2450 more points");
    assert_eq!(md_rows(&md).len(), 100, "every entry fits");
    assert!(!md.contains("left out"));
}
