//! A small self-contained HTML page (inline CSS, no scripts, no network).

use std::fmt::Write;

use crate::analyze::compare::Verdict;
use crate::report::compare::common::{self, CompareReport, LISTED_ENTRIES};
use crate::report::compare::figures::Drawn;

use crate::text::escape_html as escape;

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1b1f24}
h1{font-size:1.4rem}
.meta{color:#57606a}
code{background:#f3f4f6;padding:0 .25em;border-radius:3px}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
th,td{border:1px solid #d0d7de;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.regression td{background:#ffebe9}
tr.regression td.verdict{color:#b42318;font-weight:bold}
tr.improvement td.verdict{color:#1a7f37;font-weight:bold}
tr.no-data td.verdict{color:#9a6700}
.bad{color:#b42318}.good{color:#1a7f37}
figure.compare-figure{margin:1rem 0}figure.compare-figure svg{max-width:100%;height:auto}
";

fn class(v: Verdict) -> &'static str {
    match v {
        Verdict::Regression => "regression",
        Verdict::Improvement => "improvement",
        Verdict::Unchanged => "unchanged",
        Verdict::NoData => "no-data",
    }
}

/// The page with `figures` (BASE against NEW per result) after the table, written to `out` as
/// it is made. The table lists at most `LISTED_ENTRIES` entries, regressions first, and says
/// what it left out; the points only in one set are bounded alike (SPEC §15: a page of a
/// comparison of 10^5 points stays small).
pub(crate) fn write(r: CompareReport, figures: &[Drawn], out: &mut dyn Write) {
    let c = r.comparison;
    let title = format!("mpf compare: {}", common::headline(c));
    let _ = writeln!(out, "<!DOCTYPE html>");
    let _ = writeln!(out, "<html lang=\"en\">");
    let _ = writeln!(out, "<head>");
    let _ = writeln!(out, "<meta charset=\"utf-8\">");
    let _ = writeln!(
        out,
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    );
    let _ = writeln!(out, "<title>{}</title>", escape(&title));
    let _ = writeln!(out, "<style>\n{STYLE}</style>");
    let _ = writeln!(out, "</head>");
    let _ = writeln!(out, "<body>");
    let headline_class = if c.has_regression() { "bad" } else { "good" };
    let _ = writeln!(
        out,
        "<h1>mpf compare: <span class=\"{headline_class}\">{}</span></h1>",
        escape(&common::headline(c))
    );
    let _ = writeln!(
        out,
        "<p class=\"meta\">Base <code>{}</code> &middot; New <code>{}</code></p>",
        escape(&r.base.id),
        escape(&r.new.id)
    );
    if !c.references.is_empty() {
        let ids: Vec<String> = c
            .references
            .iter()
            .map(|id| format!("<code>{}</code>", escape(id)))
            .collect();
        let _ = writeln!(out, "<p class=\"meta\">References {}</p>", ids.join(", "));
    }
    let counts = c.counts();
    let _ = writeln!(
        out,
        "<p>{}.<br>{}.</p>",
        escape(&common::counts_text(&counts)),
        escape(&common::settings_text(c))
    );
    if !c.environment.is_empty() {
        let _ = writeln!(out, "<h2>Environment differs (base &rarr; new)</h2>\n<ul>");
        for l in common::environment_lines(c) {
            let _ = writeln!(out, "<li>{}</li>", escape(&l));
        }
        let _ = writeln!(out, "</ul>");
        if let Some(d) = &c.environment.experiment_diff {
            let _ = writeln!(out, "<pre class=\"diff\">{}</pre>", escape(d));
        }
    }
    let total = c.entries.len();
    if total > LISTED_ENTRIES {
        let _ = writeln!(
            out,
            "<p class=\"meta\" id=\"entries-clipped\">This comparison has {total} entries (points × results), more than a page lists one by one ({LISTED_ENTRIES}): listed are {}; the other {} are left out. The figures cover every point; <code>{}</code> prints every entry, and <code>--json FILE</code> writes them all.</p>",
            escape(&common::listed_text(&counts, LISTED_ENTRIES)),
            total - LISTED_ENTRIES,
            escape(r.command)
        );
    }
    let _ = writeln!(out, "<table>");
    let _ = writeln!(out, "<thead><tr>");
    for h in common::headers(c) {
        let _ = write!(out, "<th>{}</th>", escape(&h));
    }
    let _ = writeln!(out, "</tr></thead>");
    let _ = writeln!(out, "<tbody>");
    for e in c.by_severity().into_iter().take(LISTED_ENTRIES) {
        let _ = write!(out, "<tr class=\"{}\">", class(e.verdict));
        for (i, cell) in common::cells(c, e).iter().enumerate() {
            let cls = match i {
                0 => " class=\"verdict\"",
                3..=8 => " class=\"num\"",
                _ => "",
            };
            let _ = write!(out, "<td{cls}>{}</td>", escape(cell));
        }
        let _ = writeln!(out, "</tr>");
    }
    let _ = writeln!(out, "</tbody>");
    let _ = writeln!(out, "</table>");
    if !figures.is_empty() {
        let _ = writeln!(
            out,
            "<h2>Base against new</h2>\n<p class=\"meta\">Each point of both sets, drawn as the sets' own graphs draw them.</p>"
        );
        for f in figures {
            figure(out, "compare-figure", f);
        }
    }
    for (side, points) in [("base", &c.base_only), ("new", &c.new_only)] {
        if points.is_empty() {
            continue;
        }
        let _ = writeln!(out, "<h2>Only in {side} (not compared)</h2>");
        if points.len() > LISTED_ENTRIES {
            let _ = writeln!(
                out,
                "<p class=\"meta\">{} points are only in {side}: the first {LISTED_ENTRIES} are listed; <code>--json FILE</code> writes them all.</p>",
                points.len()
            );
        }
        let _ = writeln!(out, "<ul>");
        for p in points.iter().take(LISTED_ENTRIES) {
            let _ = writeln!(out, "<li>{}</li>", escape(&common::point_text(c, p)));
        }
        let _ = writeln!(out, "</ul>");
    }
    for n in &c.notes {
        let _ = writeln!(out, "<p class=\"meta\">Note: {}</p>", escape(n));
    }
    let _ = writeln!(out, "</body>");
    let _ = writeln!(out, "</html>");
}

/// An SVG document as an element inside the page: without its XML declaration and namespace
/// (HTML gives it; the page names no address), scaled to the page's width through its viewBox.
/// One drawn figure as inline SVG, under its result's name and caption (`class` tells the
/// page's figures apart).
pub(crate) fn figure(out: &mut dyn Write, class: &str, f: &Drawn) {
    let _ = writeln!(
        out,
        "<figure class=\"{class}\" data-result=\"{0}\"><figcaption><b>{0}</b>: {1}</figcaption>\n{2}</figure>",
        escape(&f.result),
        escape(&f.caption),
        svg_body(&f.svg)
    );
}

fn svg_body(svg: &str) -> String {
    let start = svg.find("<svg").unwrap_or(0);
    let body = svg[start..].replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1);
    let body = body.as_str();
    let attr = |name: &str| -> Option<String> {
        let head = &body[..body.find('>')?];
        let at = head.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(head[at..].split('"').next()?.to_string())
    };
    match (attr("width"), attr("height"), body.contains("viewBox")) {
        (Some(w), Some(h), false) => {
            body.replacen("<svg", &format!("<svg viewBox=\"0 0 {w} {h}\""), 1)
        }
        _ => body.to_string(),
    }
}
