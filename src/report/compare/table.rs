//! The terminal table: regressions first, optionally coloured with plain ANSI codes.

use std::fmt::Write;

use crate::analyze::compare::Verdict;
use crate::report::compare::common::{self, CompareReport};

const RESET: &str = "\x1b[0m";

fn verdict_style(v: Verdict) -> &'static str {
    match v {
        Verdict::Regression => "\x1b[1;31m",
        Verdict::Improvement => "\x1b[32m",
        Verdict::Unchanged => "",
        Verdict::NoData => "\x1b[33m",
    }
}

fn paint(text: &str, style: &str, color: bool) -> String {
    if color && !style.is_empty() {
        format!("{style}{text}{RESET}")
    } else {
        text.to_string()
    }
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// Renders the comparison for a terminal; `color` adds ANSI colours to verdicts.
pub(crate) fn render(r: CompareReport, color: bool) -> String {
    let mut out = String::new();
    write(r, color, &mut out);
    out
}

/// `render`, written to `out` a line at a time (a comparison of 10^5 points is megabytes of
/// table, which standard output takes as it is made rather than held whole, SPEC §15).
pub(crate) fn write(r: CompareReport, color: bool, out: &mut dyn Write) {
    let c = r.comparison;
    let _ = writeln!(out, "BASE  {}", r.base.id);
    let _ = writeln!(out, "NEW   {}", r.new.id);
    if !c.references.is_empty() {
        let _ = writeln!(out, "REFS  {}", c.references.join(", "));
    }
    let _ = writeln!(out, "{}", common::settings_text(c));
    let _ = writeln!(out);
    if !c.environment.is_empty() {
        let _ = writeln!(out, "Environment differs (BASE -> NEW):");
        for l in common::environment_lines(c) {
            let _ = writeln!(out, "  {l}");
        }
        if let Some(d) = &c.environment.experiment_diff {
            let _ = writeln!(out, "  experiment file:");
            for l in d.lines() {
                let _ = writeln!(out, "    {l}");
            }
        }
        let _ = writeln!(out);
    }

    let headers = common::headers(c);
    // Each row's cells are made twice, to measure and to write, rather than all held: a
    // comparison may have 10^5 rows (SPEC §15).
    let entries = c.by_severity();
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for e in &entries {
        for (w, cell) in widths.iter_mut().zip(common::cells(c, e)) {
            *w = (*w).max(width(&cell));
        }
    }
    // Numeric columns (base .. p (Holm)) are right-aligned.
    let right = |i: usize| (3..=8).contains(&i);
    let line = |cells: &[String], style: &str| -> String {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = " ".repeat(widths[i] - width(cell));
            let text = if i == 0 {
                format!("{}{pad}", paint(cell, style, color))
            } else if right(i) {
                format!("{pad}{cell}")
            } else {
                format!("{cell}{pad}")
            };
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(&text);
        }
        s.trim_end().to_string()
    };
    let header_style = if color { "\x1b[1m" } else { "" };
    let header_line = line(&headers, "");
    let _ = writeln!(out, "{}", paint(&header_line, header_style, color));
    for e in &entries {
        let _ = writeln!(
            out,
            "{}",
            line(&common::cells(c, e), verdict_style(e.verdict))
        );
    }

    for (side, points) in [("BASE", &c.base_only), ("NEW", &c.new_only)] {
        if points.is_empty() {
            continue;
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "Only in {side} (not compared):");
        for p in points {
            let _ = writeln!(out, "  {}", common::point_text(c, p));
        }
    }
    if !c.notes.is_empty() {
        let _ = writeln!(out);
        for n in &c.notes {
            let _ = writeln!(out, "Note: {n}");
        }
    }
    let _ = writeln!(out);
    let summary = format!(
        "{}: {}",
        if c.has_regression() {
            "REGRESSION"
        } else {
            "OK"
        },
        common::counts_text(&c.counts())
    );
    let style = if c.has_regression() {
        verdict_style(Verdict::Regression)
    } else {
        verdict_style(Verdict::Improvement)
    };
    let _ = writeln!(out, "{}", paint(&summary, style, color));
}
