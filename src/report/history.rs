//! `mpf history` outputs: terminal table, Markdown, JSON and an offline HTML page with each
//! point's history plotted and the change points marked. They format an
//! `analyze::history::History`; they compute no statistics.

use std::fmt::Write;

use serde_json::{json, Value};

use crate::analyze::compare::Verdict;
use crate::analyze::history::{History, NewestBasis, Series};
use crate::report::compare::common::{p_text, percent, tolerance_text};
use crate::report::html::page::{script_safe, PLOTLY};
use crate::store::record::Better;
use crate::text::{escape_html as esc, escape_markdown as md_cell};
use crate::units::{display_scale, format_number};

/// A history with the experiment's name: what every writer takes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HistoryReport<'a> {
    pub history: &'a History,
    pub name: &'a str,
    /// `time` or `commit`.
    pub by: &'a str,
}

/// `iperf: 12 sets by time; E-Divisive means, 100 permutations, alpha 0.05; tolerance 5%`
fn settings_line(r: &HistoryReport) -> String {
    let h = r.history;
    let sets: usize = h.steps.iter().map(|s| s.sets.len()).sum();
    let steps = if r.by == "commit" {
        format!(
            "{} in {}",
            crate::words::count(sets, "set"),
            crate::words::count(h.steps.len(), "commit")
        )
    } else {
        format!("{} by time", crate::words::count(sets, "set"))
    };
    format!(
        "{}: {steps}; E-Divisive means, {} permutations, alpha {}; tolerance {}",
        r.name,
        h.settings.permutations,
        format_number(h.settings.alpha),
        tolerance_text(h.settings.tolerance)
    )
}

fn series_title(h: &History, s: &Series) -> String {
    let better = match s.better {
        Better::Higher => "higher is better",
        Better::Lower => "lower is better",
    };
    let unit = if s.unit.is_empty() {
        String::new()
    } else {
        format!("{}, ", s.unit)
    };
    format!(
        "{} @ {} [{unit}{better}]",
        s.result,
        crate::store::point_text(&h.variables, &s.point)
    )
}

/// A value of the series in its display unit: `1.2 Gbit/s`.
fn value_text(s: &Series, x: f64) -> String {
    let magnitude = s
        .means
        .iter()
        .flatten()
        .map(|m| m.abs())
        .fold(0.0, f64::max);
    let (div, unit) = display_scale(&s.unit, magnitude);
    if unit.is_empty() {
        format_number(x / div)
    } else {
        format!("{} {unit}", format_number(x / div))
    }
}

fn commit_text(c: &Option<String>) -> String {
    c.as_deref()
        .map_or("-".into(), |c| c.chars().take(12).collect())
}

/// A permutation p-value; none of the permutations as large reads `< 1/(permutations + 1)`.
fn permutation_p(h: &History, p: f64) -> String {
    if p == 0.0 {
        format!("< {}", p_text(1.0 / (h.settings.permutations as f64 + 1.0)))
    } else {
        p_text(p)
    }
}

/// The change cell of a step: `+20.0% (p 0.0099, improvement)` where a change begins.
fn change_cell(h: &History, s: &Series, step: usize) -> String {
    s.changes
        .iter()
        .find(|c| c.step == step)
        .map_or(String::new(), |c| {
            format!(
                "{} ({} -> {}, p {}, {})",
                percent(c.change),
                value_text(s, c.before),
                value_text(s, c.after),
                permutation_p(h, c.p),
                c.verdict.as_str()
            )
        })
}

/// `newest: regression (Welch against #7..#11: -20.1%, p 1.2e-5, Holm 2.4e-5)`
fn newest_text(h: &History, s: &Series) -> String {
    let n = &s.newest;
    let last = h.steps.len();
    let detail = match n.basis {
        NewestBasis::ChangePoint => format!(
            "a change point begins at #{last}: {}",
            n.change.map_or("-".into(), percent)
        ),
        NewestBasis::Welch => {
            let start = s.changes.last().map_or(0, |c| c.step) + 1;
            format!(
                "Welch against #{start}..#{}: {}, p {}, Holm {}",
                last - 1,
                n.change.map_or("-".into(), percent),
                n.p.map_or("-".into(), p_text),
                n.p_adjusted.map_or("-".into(), p_text)
            )
        }
        NewestBasis::None if n.verdict == Verdict::NoData => "no run at the newest set".into(),
        NewestBasis::None => "no earlier run to test against".into(),
    };
    format!("newest #{last}: {} ({detail})", n.verdict.as_str())
}

/// Rows of one series: #, set, started, commit, mean, n, change.
fn rows(h: &History, s: &Series) -> Vec<[String; 7]> {
    h.steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            [
                (i + 1).to_string(),
                step.sets.join(" "),
                step.started.clone(),
                commit_text(&step.commit),
                s.means[i].map_or("-".into(), |m| value_text(s, m)),
                s.runs[i].to_string(),
                change_cell(h, s, i),
            ]
        })
        .collect()
}

const HEADERS: [&str; 7] = ["#", "set", "started", "commit", "mean", "n", "change"];

fn summary_line(h: &History) -> String {
    match h.regressions() {
        0 => "OK: no regression at the newest set".into(),
        1 => "REGRESSION: 1 point and result regressed at the newest set".into(),
        n => format!("REGRESSION: {n} points and results regressed at the newest set"),
    }
}

pub(crate) fn table(r: HistoryReport) -> String {
    let h = r.history;
    let mut out = String::new();
    let _ = writeln!(out, "{}", settings_line(&r));
    for s in &h.series {
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", series_title(h, s));
        let rows = rows(h, s);
        let mut widths: Vec<usize> = HEADERS.iter().map(|x| x.chars().count()).collect();
        for row in &rows {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: Vec<&str>| -> String {
            let mut l = String::from(" ");
            for (i, c) in cells.iter().enumerate() {
                let pad = " ".repeat(widths[i] - c.chars().count());
                // #, mean and n are right-aligned.
                if matches!(i, 0 | 4 | 5) {
                    let _ = write!(l, "  {pad}{c}");
                } else {
                    let _ = write!(l, "  {c}{pad}");
                }
            }
            l.trim_end().to_string()
        };
        let _ = writeln!(out, "{}", line(HEADERS.to_vec()));
        for row in &rows {
            let _ = writeln!(out, "{}", line(row.iter().map(String::as_str).collect()));
        }
        let _ = writeln!(out, "  {}", newest_text(h, s));
    }
    for n in &h.notes {
        let _ = writeln!(out, "\nNote: {n}");
    }
    let _ = writeln!(out, "\n{}", summary_line(h));
    out
}

pub(crate) fn markdown(r: HistoryReport) -> String {
    let h = r.history;
    let mut out = String::new();
    let mark = if h.has_regression() { "❌" } else { "✅" };
    let _ = writeln!(out, "## {mark} mpf history: {}", md_cell(&summary_line(h)));
    let _ = writeln!(out, "\n_{}._", md_cell(&settings_line(&r)));
    for s in &h.series {
        let _ = writeln!(out, "\n### {}\n", md_cell(&series_title(h, s)));
        let _ = writeln!(out, "| {} |", HEADERS.join(" | "));
        let _ = writeln!(out, "|--:|---|---|---|--:|--:|---|");
        for row in rows(h, s) {
            let cells: Vec<String> = row.iter().map(|c| md_cell(c)).collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        let _ = writeln!(out, "\n**{}**", md_cell(&newest_text(h, s)));
    }
    for n in &h.notes {
        let _ = writeln!(out, "\n> {}", md_cell(n));
    }
    out
}

fn to_value(r: &HistoryReport) -> Value {
    let h = r.history;
    json!({
        "mpf_version": crate::VERSION,
        "name": r.name,
        "by": r.by,
        "settings": {
            "method": "e-divisive",
            "tolerance": h.settings.tolerance,
            "alpha": h.settings.alpha,
            "permutations": h.settings.permutations,
            "seed": h.settings.seed,
        },
        "regression": h.has_regression(),
        "steps": h.steps,
        "series": h.series.iter().map(|s| {
            let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
            v["point_text"] = crate::store::point_text(&h.variables, &s.point).into();
            v
        }).collect::<Vec<_>>(),
        "notes": h.notes,
    })
}

pub(crate) fn json(r: HistoryReport) -> String {
    let mut s = serde_json::to_string_pretty(&to_value(&r)).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

/// The plotly figure of one series: the step means, each segment's mean as a line, a dashed
/// vertical line where a change begins.
fn figure(h: &History, s: &Series) -> Value {
    let magnitude = s
        .means
        .iter()
        .flatten()
        .map(|m| m.abs())
        .fold(0.0, f64::max);
    let (div, unit) = display_scale(&s.unit, magnitude);
    let x: Vec<usize> = (1..=h.steps.len()).collect();
    let text: Vec<String> = h
        .steps
        .iter()
        .map(|st| format!("{} {}", st.sets.join(" "), commit_text(&st.commit)))
        .collect();
    let y: Vec<Value> = s
        .means
        .iter()
        .map(|m| m.map_or(Value::Null, |m| json!(m / div)))
        .collect();
    // Each set's spread: the 95% confidence interval of its mean, as error bars.
    let (plus, minus): (Vec<f64>, Vec<f64>) = s
        .means
        .iter()
        .zip(&s.intervals)
        .map(|(m, ci)| match (m, ci) {
            (Some(m), Some((lo, hi))) => ((hi - m) / div, (m - lo) / div),
            _ => (0.0, 0.0),
        })
        .unzip();
    let mut traces = vec![json!({
        "type": "scatter", "mode": "lines+markers", "name": "mean", "x": x, "y": y,
        "text": text, "customdata": s.runs,
        "error_y": {"type": "data", "symmetric": false, "array": plus, "arrayminus": minus,
                    "visible": true, "color": "#1f77b4"},
        "hovertemplate": format!("%{{y:.4g}} {unit} (n = %{{customdata}})<br>%{{text}}<extra></extra>"),
    })];
    let mut bounds: Vec<usize> = s.changes.iter().map(|c| c.step).collect();
    bounds.insert(0, 0);
    bounds.push(h.steps.len());
    for w in bounds.windows(2) {
        let seg: Vec<f64> = s.means[w[0]..w[1]].iter().flatten().copied().collect();
        if seg.is_empty() {
            continue;
        }
        let m = seg.iter().sum::<f64>() / seg.len() as f64 / div;
        traces.push(json!({
            "type": "scatter", "mode": "lines", "name": "segment mean", "showlegend": false,
            "x": [w[0] as f64 + 0.6, w[1] as f64 + 0.4], "y": [m, m],
            "line": {"dash": "dot", "color": "#888"},
        }));
    }
    let shapes: Vec<Value> = s
        .changes
        .iter()
        .map(|c| {
            let colour = match c.verdict {
                Verdict::Regression => "#b42318",
                Verdict::Improvement => "#1a7f37",
                _ => "#9a6700",
            };
            json!({"type": "line", "xref": "x", "yref": "paper", "x0": c.step as f64 + 0.5,
                   "x1": c.step as f64 + 0.5, "y0": 0, "y1": 1,
                   "line": {"dash": "dash", "color": colour}})
        })
        .collect();
    let y_title = if unit.is_empty() {
        s.result.clone()
    } else {
        format!("{} ({unit})", s.result)
    };
    json!({
        "data": traces,
        "layout": {
            "shapes": shapes,
            "xaxis": {"title": {"text": "set #"}, "dtick": 1},
            // A percentage starts at zero, as in the set's graphs (100% alone is not 99-101%).
            "yaxis": if unit.ends_with('%') && s.means.iter().flatten().all(|m| *m >= 0.0) {
                json!({"title": {"text": y_title}, "rangemode": "tozero"})
            } else {
                json!({"title": {"text": y_title}})
            },
            "margin": {"t": 20},
        },
    })
}

const SCRIPT: &str = r#"
for (const [i, f] of JSON.parse(document.getElementById('mpf-figures').textContent).entries()) {
  Plotly.newPlot('plot-' + i, f.data, f.layout, {displaylogo: false, responsive: true});
}
"#;

pub(crate) fn html(r: HistoryReport) -> String {
    let h = r.history;
    let mut out = String::with_capacity(PLOTLY.len() + 64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"generator\" content=\"mpf {}\">\n<title>{} — mpf history</title>\n<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:0 auto;padding:1em}}table{{border-collapse:collapse;font-size:.9em}}th,td{{border:1px solid #ddd;padding:.2em .5em}}.bad{{color:#b42318}}.good{{color:#1a7f37}}</style>\n</head>\n<body>\n",
        esc(crate::VERSION),
        esc(r.name)
    );
    let class = if h.has_regression() { "bad" } else { "good" };
    let _ = writeln!(
        out,
        "<h1>mpf history: {}</h1>\n<p class=\"{class}\">{}</p>\n<p>{}</p>",
        esc(r.name),
        esc(&summary_line(h)),
        esc(&settings_line(&r))
    );
    for (i, s) in h.series.iter().enumerate() {
        let _ = writeln!(out, "<h2>{}</h2>", esc(&series_title(h, s)));
        let _ = writeln!(
            out,
            "<p class=\"spread\">Each set: the mean of its runs, with the 95% confidence interval of that mean{}.</p>",
            if s.clipped {
                "; intervals clipped at 0 (the result is never negative)"
            } else {
                ""
            }
        );
        let _ = writeln!(out, "<div class=\"mpf-plot\" id=\"plot-{i}\"></div>");
        let _ = write!(out, "<table><tr>");
        for hd in HEADERS {
            let _ = write!(out, "<th>{hd}</th>");
        }
        let _ = writeln!(out, "</tr>");
        for row in rows(h, s) {
            let cells: String = row.iter().map(|c| format!("<td>{}</td>", esc(c))).collect();
            let _ = writeln!(out, "<tr>{cells}</tr>");
        }
        let _ = writeln!(out, "</table>\n<p>{}</p>", esc(&newest_text(h, s)));
    }
    for n in &h.notes {
        let _ = writeln!(out, "<p>Note: {}</p>", esc(n));
    }
    let figures: Vec<Value> = h.series.iter().map(|s| figure(h, s)).collect();
    let _ = write!(
        out,
        "<script type=\"application/json\" id=\"mpf-figures\">{}</script>\n<script>{}</script>\n<script>{SCRIPT}</script>\n</body>\n</html>\n",
        script_safe(&Value::Array(figures).to_string()),
        script_safe(PLOTLY),
    );
    out
}
