//! Markdown for CI job summaries and pull-request comments (GitHub's `$GITHUB_STEP_SUMMARY`,
//! GitLab, Gitea): a headline, the settings, one table with regressions first, unmatched points
//! and notes, within what a pull-request comment holds (`MAX_BYTES`): beyond, the table lists
//! regressions, then improvements, then the rest, as many whole rows as fit, and says how many
//! it left out and how to get them all.

use std::fmt::Write;

use crate::analyze::compare::Verdict;
use crate::report::compare::common::{self, CompareReport};
use crate::text::escape_markdown as cell;

/// The most a summary holds: a GitHub pull-request comment takes 65,536 characters (a job
/// summary 1 MiB). Counted in bytes, which are never fewer than the characters.
pub(crate) const MAX_BYTES: usize = 65_536;

/// The most points only in one set, notes and environment differences listed.
const LISTED_LINES: usize = 50;

/// The most of the experiment file's diff shown, in bytes, cut between lines.
const DIFF_BYTES: usize = 8192;

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

/// `- item` lines of at most `LISTED_LINES` items, then how many more there are.
fn bullets(out: &mut String, items: impl ExactSizeIterator<Item = String>, more: &str) {
    let n = items.len();
    for item in items.take(LISTED_LINES) {
        let _ = writeln!(out, "- {}", cell(&item));
    }
    if n > LISTED_LINES {
        let _ = writeln!(out, "- … and {} more {more}", n - LISTED_LINES);
    }
}

/// The head of the diff that fits in `DIFF_BYTES`, in whole lines, and how many lines are left.
fn diff_head(d: &str) -> (&str, usize) {
    if d.len() <= DIFF_BYTES {
        return (d, 0);
    }
    let mut end = 0;
    for line in d.split_inclusive('\n') {
        if end + line.len() > DIFF_BYTES {
            break;
        }
        end += line.len();
    }
    (&d[..end], d[end..].lines().count())
}

fn head(r: &CompareReport, out: &mut String) {
    let c = r.comparison;
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
        bullets(out, common::environment_lines(c).into_iter(), "differences");
        if let Some(d) = &c.environment.experiment_diff {
            let _ = writeln!(out, "- experiment file:");
            let _ = writeln!(out);
            let (shown, more) = diff_head(d);
            // A fence longer than any run of backticks in the diff.
            let fence = "`".repeat(3.max(longest_backticks(shown) + 1));
            let _ = writeln!(out, "{fence}diff\n{shown}{fence}");
            if more > 0 {
                let _ = writeln!(out);
                let _ = writeln!(out, "_… and {more} more lines of the diff._");
            }
        }
        let _ = writeln!(out);
    }
}

/// The points only in one set, and the notes.
fn tail(r: &CompareReport, out: &mut String) {
    let c = r.comparison;
    for (side, points) in [("base", &c.base_only), ("new", &c.new_only)] {
        if points.is_empty() {
            continue;
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "**Only in {side}** (not compared):");
        let _ = writeln!(out);
        let texts = points.iter().map(|p| common::point_text(c, p));
        bullets(out, texts, "points");
    }
    if !c.notes.is_empty() {
        let _ = writeln!(out);
        for n in c.notes.iter().take(LISTED_LINES) {
            let _ = writeln!(out, "> {}", cell(n));
        }
        if c.notes.len() > LISTED_LINES {
            let more = c.notes.len() - LISTED_LINES;
            let _ = writeln!(out, "> … and {more} more notes");
        }
    }
}

/// The table's header and alignment lines.
fn table_head(r: &CompareReport) -> String {
    let headers = common::headers(r.comparison);
    let names: Vec<String> = headers.iter().map(|h| cell(h)).collect();
    let align = [
        "---", "---", "---", "--:", "--:", "--:", ":-:", "--:", "--:", "---",
    ];
    format!("| {} |\n|{}|\n", names.join(" | "), align.join("|"))
}

/// What was left out of the table, and how to get it all.
fn clipped_line(r: &CompareReport, listed: usize) -> String {
    let c = r.comparison;
    let total = c.entries.len();
    format!(
        "_{} of {total} entries (points × results) are left out to fit a pull-request comment ({MAX_BYTES} characters); listed are {}. `{}` prints every entry, and `--json FILE` writes them all._\n\n",
        total - listed,
        common::listed_text(&c.counts(), listed),
        r.command.replace('`', "'")
    )
}

/// The summary, at most `MAX_BYTES` long unless its head and lists alone are longer.
pub(crate) fn render(r: CompareReport) -> String {
    let c = r.comparison;
    let mut out = String::new();
    head(&r, &mut out);
    let mut end = String::new();
    tail(&r, &mut end);
    let table = table_head(&r);
    // Whole rows, regressions first, while they fit with the line saying what was left out.
    let mut rows: Vec<String> = Vec::new();
    let mut room = MAX_BYTES.saturating_sub(out.len() + table.len() + end.len());
    for e in c.by_severity() {
        // Escaped first: the bold of a regression is mpf's own markup.
        let mut cells: Vec<String> = common::cells(c, e).iter().map(|x| cell(x)).collect();
        cells[0] = format!("{} {}", verdict_mark(e.verdict), cells[0]);
        if e.verdict == Verdict::Regression {
            cells[5] = format!("**{}**", cells[5]);
        }
        let row = format!("| {} |\n", cells.join(" | "));
        if row.len() > room {
            break;
        }
        room -= row.len();
        rows.push(row);
    }
    if rows.len() < c.entries.len() {
        // Rows give way to the line until it fits too.
        while !rows.is_empty() && clipped_line(&r, rows.len()).len() > room {
            room += rows.pop().map_or(0, |row| row.len());
        }
        out.push_str(&clipped_line(&r, rows.len()));
    }
    out.push_str(&table);
    for row in rows {
        out.push_str(&row);
    }
    out.push_str(&end);
    out
}

/// `render`, to `out`.
pub(crate) fn write(r: CompareReport, out: &mut dyn Write) {
    let _ = out.write_str(&render(r));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_diff_is_cut_between_lines_and_counts_the_rest() {
        let short = "-a\n+b\n";
        assert_eq!(diff_head(short), (short, 0));
        let long: String = (0..2000).map(|i| format!("+line {i}\n")).collect();
        let (head, more) = diff_head(&long);
        assert!(head.len() <= DIFF_BYTES && head.ends_with('\n'));
        assert_eq!(head.lines().count() + more, 2000);
        // One line longer than the bound: none of it shown, counted.
        let huge = "x".repeat(DIFF_BYTES + 1);
        assert_eq!(diff_head(&huge), ("", 1));
    }

    #[test]
    fn lists_show_their_first_items_and_how_many_more() {
        let mut out = String::new();
        bullets(&mut out, (0..3).map(|i| format!("p{i}")), "points");
        assert_eq!(out, "- p0\n- p1\n- p2\n");
        out.clear();
        bullets(&mut out, (0..53).map(|i| format!("p|{i}")), "points");
        assert_eq!(out.lines().count(), LISTED_LINES + 1);
        assert!(out.starts_with("- p\\|0\n"));
        assert!(out.ends_with("- … and 3 more points\n"));
    }
}
