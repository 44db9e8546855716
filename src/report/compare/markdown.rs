//! Markdown for CI job summaries (GitHub's `$GITHUB_STEP_SUMMARY`, GitLab, Gitea): a headline,
//! the settings, one table with regressions first, unmatched points and notes.

use std::fmt::Write;

use crate::analyze::compare::Verdict;
use crate::report::compare::common::{self, CompareReport};
use crate::text::escape_markdown as cell;

/// The longest run of backticks in `s`: a code fence around it must be longer.
fn longest_backticks(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

fn verdict_mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Regression => "❌",
        Verdict::Improvement => "✅",
        Verdict::Unchanged => "➖",
        Verdict::NoData => "⚠️",
    }
}

pub(crate) fn render(r: CompareReport) -> String {
    let c = r.comparison;
    let mut out = String::new();
    let mark = if c.has_regression() { "❌" } else { "✅" };
    let _ = writeln!(out, "## {mark} mpf compare: {}", common::headline(c));
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "**Base** `{}` · **New** `{}`  ",
        r.base.id.replace('`', "'"),
        r.new.id.replace('`', "'")
    );
    if !c.references.is_empty() {
        let ids: Vec<String> = c
            .references
            .iter()
            .map(|id| format!("`{}`", id.replace('`', "'")))
            .collect();
        let _ = writeln!(out, "**References** {}  ", ids.join(", "));
    }
    let _ = writeln!(out, "**{}**  ", common::counts_text(&c.counts()));
    let _ = writeln!(out, "_{}._", common::settings_text(c));
    let _ = writeln!(out);
    if !c.environment.is_empty() {
        let _ = writeln!(out, "**Environment differs** (base → new):");
        let _ = writeln!(out);
        for l in common::environment_lines(c) {
            let _ = writeln!(out, "- {}", cell(&l));
        }
        if let Some(d) = &c.environment.experiment_diff {
            let _ = writeln!(out, "- experiment file:");
            let _ = writeln!(out);
            // A fence longer than any run of backticks in the diff.
            let fence = "`".repeat(3.max(longest_backticks(d) + 1));
            let _ = writeln!(out, "{fence}diff\n{}{fence}", d);
        }
        let _ = writeln!(out);
    }

    let headers = common::headers(c);
    let _ = writeln!(
        out,
        "| {} |",
        headers
            .iter()
            .map(|h| cell(h))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let align = [
        "---", "---", "---", "--:", "--:", "--:", ":-:", "--:", "--:", "---",
    ];
    let _ = writeln!(out, "|{}|", align.join("|"));
    for e in c.by_severity() {
        // Escaped first: the bold of a regression is mpf's own markup.
        let mut cells: Vec<String> = common::cells(c, e).iter().map(|x| cell(x)).collect();
        cells[0] = format!("{} {}", verdict_mark(e.verdict), cells[0]);
        if e.verdict == Verdict::Regression {
            cells[5] = format!("**{}**", cells[5]);
        }
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    for (side, points) in [("base", &c.base_only), ("new", &c.new_only)] {
        if points.is_empty() {
            continue;
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "**Only in {side}** (not compared):");
        let _ = writeln!(out);
        for p in points {
            let _ = writeln!(out, "- {}", cell(&common::point_text(c, p)));
        }
    }
    if !c.notes.is_empty() {
        let _ = writeln!(out);
        for n in &c.notes {
            let _ = writeln!(out, "> {}", cell(n));
        }
    }
    out
}
