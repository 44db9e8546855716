//! The report's monitoring section: for the run chosen in a selector, one interactive graph per
//! role and metric group (and unit), the run's steps as bands on the time axis.
//!
//! The page stays bounded for big sets: it embeds the samples of at most `MAX_RUNS` runs (the
//! first runs with samples, in run order) and about `MAX_POINTS` points in all, each series
//! thinned to at most `MAX_SERIES_POINTS` points (evenly spaced samples; fewer, down to 50, in a
//! run of more than 100 series); the other runs are listed with the commands that draw or
//! export them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::error::Result;
use crate::report::plot::render::css_colour;
use crate::report::plot::timeseries::{busiest, left_out, step_marks, MAX_PANEL_LINES};
use crate::store::export::sorted_records;
use crate::store::record::RunRecord;
use crate::store::timeseries::{metric_kind, read_run, runs_with_samples, Group, RunSamples};
use crate::store::ResultSet;
use crate::text::escape_html as esc;
use crate::units::display_scale;

/// The most runs whose samples the page embeds.
pub const MAX_RUNS: usize = 20;
/// The most points the page embeds over all runs (a few MiB of JSON).
pub const MAX_POINTS: usize = 200_000;
/// The most points of one series: more than a graph's width in pixels shows.
pub const MAX_SERIES_POINTS: usize = 2_000;
/// Per-core series (`cpu<N>`) start hidden (a click on the legend shows them) beyond this many;
/// in other groups, all but the `MAX_PANEL_LINES` busiest series (highest peak) do.
const SHOWN_CORES: usize = 4;

const MONITOR_SCRIPT: &str = r#"
(function () {
  var box = document.getElementById("mpf-errors");
  function report(msg) {
    box.textContent = (box.textContent ? box.textContent + "\n" : "") + msg; box.hidden = false;
  }
  var data = JSON.parse(document.getElementById("mpf-monitor").textContent);
  var select = document.getElementById("mpf-monitor-run");
  var holder = document.getElementById("mpf-monitor-plots");
  function show(i) {
    Array.prototype.slice.call(holder.children).forEach(function (d) {
      if (d.classList.contains("mpf-plot")) { Plotly.purge(d); }
    });
    holder.textContent = "";
    var run = data[i];
    run.graphs.forEach(function (g, k) {
      var h = document.createElement("h3");
      h.textContent = g.title;
      holder.appendChild(h);
      if (g.note) {
        var p = document.createElement("p");
        p.className = "mpf-monitor-note";
        p.textContent = g.note;
        holder.appendChild(p);
      }
      var div = document.createElement("div");
      div.className = "mpf-plot mpf-monitor-plot";
      div.id = "monitor-" + k;
      holder.appendChild(div);
      try {
        Plotly.newPlot(div, g.data, g.layout, {displaylogo: false, responsive: true}).then(
          function () { div.setAttribute("data-rendered", "true"); },
          function (e) { report("monitoring graph " + k + ": " + e); });
      } catch (e) { report("monitoring graph " + k + ": " + e.message); }
    });
  }
  select.addEventListener("change", function () { show(Number(select.value)); });
  show(Number(select.value));
})();
"#;

/// A name from a monitor.csv as plotly text: plotly reads a few HTML tags (`<a href>`, `<b>`)
/// in names, and a Prometheus label may hold anything; entities show as the characters.
fn plotly_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max` of `points`, evenly spaced by index, the first and the last kept.
fn thin(points: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max || max < 2 {
        return points.to_vec();
    }
    let last = (points.len() - 1) as f64;
    (0..max)
        .map(|j| points[(j as f64 * last / (max - 1) as f64).round() as usize])
        .collect()
}

/// The step bands and their names, as plotly shapes and annotations.
fn step_layout(r: &RunRecord) -> (Vec<Value>, Vec<Value>) {
    let mut shapes = Vec::new();
    let mut notes = Vec::new();
    for (i, s) in step_marks(r).iter().enumerate() {
        shapes.push(json!({
            "type": "rect", "xref": "x", "yref": "paper", "x0": s.start, "x1": s.end,
            "y0": 0, "y1": 1, "fillcolor": "#6e6e6e", "opacity": 0.1, "line": {"width": 0},
            "layer": "below",
        }));
        shapes.push(json!({
            "type": "line", "xref": "x", "yref": "paper", "x0": s.start, "x1": s.start,
            "y0": 0, "y1": 1, "line": {"color": "#6e6e6e", "width": 1},
        }));
        // Staggered, so that steps that start together keep their names apart.
        notes.push(json!({
            "text": s.name, "showarrow": false, "xref": "x", "yref": "paper",
            "x": s.start, "y": 1.0 - 0.07 * (i % 3) as f64, "xanchor": "left", "yanchor": "top",
            "font": {"color": "#555", "size": 11},
        }));
    }
    (shapes, notes)
}

/// One graph: `role`'s metrics of one group and unit.
struct Graph {
    role: String,
    group: Group,
    unit: &'static str,
    series: Vec<usize>,
}

/// The graphs of a run: per role, per group, per unit, in that order.
fn graphs(samples: &RunSamples) -> Vec<Graph> {
    let mut by: BTreeMap<(String, Group, &'static str), Vec<usize>> = BTreeMap::new();
    for (i, k) in samples.series.iter().enumerate() {
        let kind = metric_kind(&k.metric);
        by.entry((k.role.clone(), kind.group, kind.unit))
            .or_default()
            .push(i);
    }
    by.into_iter()
        .map(|((role, group, unit), series)| Graph {
            role,
            group,
            unit,
            series,
        })
        .collect()
}

/// The plotly figure of one graph, and the points it holds.
fn graph_figure(
    samples: &RunSamples,
    g: &Graph,
    steps: &(Vec<Value>, Vec<Value>),
    cap: usize,
) -> (Value, usize) {
    let lines: Vec<(String, Vec<(f64, f64)>)> = g
        .series
        .iter()
        .map(|&i| {
            let p = thin(&samples.points(i), cap);
            (samples.series[i].metric.clone(), p)
        })
        .collect();
    let peak = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|x| x.1.abs()))
        .fold(0.0, f64::max);
    let (div, unit) = display_scale(g.unit, peak);
    let cores = lines
        .iter()
        .filter(|(m, _)| m.len() > 3 && m.starts_with("cpu"))
        .count();
    let points_only: Vec<Vec<(f64, f64)>> = lines.iter().map(|(_, p)| p.clone()).collect();
    let shown = busiest(&points_only, MAX_PANEL_LINES);
    // What starts hidden, and why, under the graph's title.
    let note = if g.group == Group::Cpu {
        (cores > SHOWN_CORES).then(|| {
            format!("the {cores} per-core lines start hidden (more than {SHOWN_CORES} cores)")
        })
    } else {
        let out = left_out(&points_only, &shown, MAX_PANEL_LINES, |j| {
            lines[j].0.clone()
        });
        (!out.is_empty()).then(|| out.join("; "))
    };
    let mut points = 0;
    let data: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(j, (metric, p))| {
            points += p.len();
            let hidden = if g.group == Group::Cpu {
                metric != "cpu" && cores > SHOWN_CORES
            } else {
                !shown.contains(&j)
            };
            // The lines shown first get the palette's distinct colours.
            let colour = match shown.iter().position(|&k| k == j) {
                Some(rank) if g.group != Group::Cpu => rank,
                _ => j,
            };
            let name = plotly_text(metric);
            let mut t = json!({
                "type": "scatter", "mode": "lines", "name": name,
                "x": p.iter().map(|x| x.0).collect::<Vec<_>>(),
                "y": p.iter().map(|x| x.1 / div).collect::<Vec<_>>(),
                "line": {"color": css_colour(colour), "width": 2},
                "hovertemplate": format!("%{{y:.4g}} {unit} at %{{x:.3f}} s<extra>{}</extra>", name.replace('%', "&#37;")),
            });
            if hidden {
                t["visible"] = json!("legendonly");
            }
            t
        })
        .collect();
    let y_title = if unit.is_empty() {
        g.group.name().to_string()
    } else {
        format!("{} ({unit})", g.group.name())
    };
    let mut yaxis = json!({"title": {"text": y_title}, "automargin": true, "rangemode": "tozero"});
    if g.unit == "%" {
        yaxis["range"] = json!([0, 100]);
    }
    let layout = json!({
        "xaxis": {"title": {"text": "Time since the run started (s)"}, "automargin": true,
                  "rangemode": "tozero"},
        "yaxis": yaxis,
        "shapes": steps.0, "annotations": steps.1,
        "showlegend": true, "height": 360,
        "margin": {"t": 30, "r": 20, "b": 50, "l": 60},
        "font": {"family": "DejaVu Sans, sans-serif"},
    });
    let mut fig = json!({"data": data, "layout": layout});
    if let Some(note) = note {
        fig["note"] = json!(format!(
            "Hidden at first (click the legend to show): {note}"
        ));
    }
    (fig, points)
}

/// A run's entry in the selector and its graphs.
fn run_entry(set: &ResultSet, r: &RunRecord, samples: &RunSamples) -> (Value, usize) {
    let steps = step_layout(r);
    // A run of many series gets fewer points a series, so that it alone stays near the budget.
    let cap = (MAX_POINTS / samples.series.len().max(1)).clamp(50, MAX_SERIES_POINTS);
    let mut points = 0;
    let graphs: Vec<Value> = graphs(samples)
        .iter()
        .map(|g| {
            let (mut fig, n) = graph_figure(samples, g, &steps, cap);
            points += n;
            let unit_note = if g.unit.is_empty() {
                String::new()
            } else {
                format!(" ({})", g.unit)
            };
            fig["title"] = json!(format!("{} · {}{unit_note}", g.role, g.group.name()));
            fig
        })
        .collect();
    let point = crate::store::point_text(&set.manifest.variables, &r.point);
    let label = if point.is_empty() {
        format!("run {} (repetition {})", r.index, r.repetition)
    } else {
        format!("run {}: {point} (repetition {})", r.index, r.repetition)
    };
    (
        json!({"run": r.index, "label": label, "graphs": graphs}),
        points,
    )
}

/// The monitoring section of `set`'s report and the scripts it needs (empty strings when no
/// run has samples).
pub struct Section {
    pub html: String,
    pub scripts: String,
}

/// The section: the selector, the holder of the graphs, what was left out.
pub fn section(set: &ResultSet) -> Result<Section> {
    let with = runs_with_samples(set);
    if with.is_empty() {
        return Ok(Section {
            html: String::new(),
            scripts: String::new(),
        });
    }
    let records = sorted_records(set);
    let mut runs: Vec<Value> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut points = 0;
    let mut left_out: Vec<usize> = Vec::new();
    for &i in &with {
        let Some(r) = records.iter().find(|r| r.index == i) else {
            continue;
        };
        if runs.len() >= MAX_RUNS || points >= MAX_POINTS {
            left_out.push(i);
            continue;
        }
        let Some(samples) = read_run(&set.dir, i)? else {
            continue;
        };
        if let Some(n) = samples.skipped_note() {
            notes.push(format!("run {i}: {n}"));
        }
        let (entry, n) = run_entry(set, r, &samples);
        points += n;
        runs.push(entry);
    }
    let mut html = String::from("<h2>Monitoring</h2>\n<p class=\"note\">What the machines did during a run: one graph per role and metric group, the run's steps as grey bands on the time axis. Click a legend entry to hide or show a line.</p>\n<p><label for=\"mpf-monitor-run\">Run: </label><select id=\"mpf-monitor-run\">\n");
    for (k, run) in runs.iter().enumerate() {
        let _ = writeln!(
            html,
            "<option value=\"{k}\">{}</option>",
            esc(run["label"].as_str().unwrap_or_default())
        );
    }
    html.push_str("</select></p>\n");
    if !left_out.is_empty() {
        let shown: Vec<String> = left_out.iter().take(20).map(|i| i.to_string()).collect();
        let _ = writeln!(
            html,
            "<p class=\"note\" id=\"mpf-monitor-left-out\">{} more run{} with samples not embedded, to keep this page small (runs {}{}): draw one with <code>mpf plot {} --run N --metric cpu</code>, or export them all with <code>mpf export {} --timeseries</code>.</p>",
            left_out.len(),
            if left_out.len() == 1 { "" } else { "s" },
            shown.join(", "),
            if left_out.len() > shown.len() { ", …" } else { "" },
            esc(&set.manifest.id),
            esc(&set.manifest.id)
        );
    }
    for n in &notes {
        let _ = writeln!(html, "<p class=\"note\">{}</p>", esc(n));
    }
    html.push_str("<div id=\"mpf-monitor-plots\"></div>\n");
    let scripts = format!(
        "<script type=\"application/json\" id=\"mpf-monitor\">{}</script>\n<script>{MONITOR_SCRIPT}</script>\n",
        super::page::script_safe(&Value::Array(runs).to_string())
    );
    Ok(Section { html, scripts })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_at_most_max_points_and_both_ends() {
        let p: Vec<(f64, f64)> = (0..10_001).map(|i| (i as f64, 0.0)).collect();
        let t = thin(&p, 2_000);
        assert_eq!(t.len(), 2_000);
        assert!(t
            .windows(2)
            .all(|w| w[1].0 - w[0].0 >= 5.0 && w[1].0 - w[0].0 <= 6.0));
        assert_eq!(t.first(), p.first());
        assert_eq!(t.last(), p.last());
        assert_eq!(thin(&p[..5], 2_000).len(), 5);
    }

    #[test]
    fn names_from_the_file_reach_plotly_as_text() {
        let s = crate::store::timeseries::parse(
            std::path::Path::new("m.csv"),
            0,
            b"time,role,metric,value\n0,r,\"prom.x{p=\"\"<a href='javascript:x'>%{y}</a>&\"\"}\",1\n",
        )
        .unwrap();
        let g = &graphs(&s)[0];
        let (fig, _) = graph_figure(&s, g, &(vec![], vec![]), 10);
        let trace = &fig["data"][0];
        assert_eq!(
            trace["name"],
            "prom.x{p=\"&lt;a href='javascript:x'&gt;%{y}&lt;/a&gt;&amp;\"}"
        );
        let hover = trace["hovertemplate"].as_str().unwrap();
        assert!(
            hover.ends_with(
                "<extra>prom.x{p=\"&lt;a href='javascript:x'&gt;&#37;{y}&lt;/a&gt;&amp;\"}</extra>"
            ),
            "{hover}"
        );
    }

    #[test]
    fn graphs_go_per_role_group_and_unit() {
        let s = crate::store::timeseries::parse(
            std::path::Path::new("m.csv"),
            0,
            b"time,role,metric,value\n0,b,cpu,1\n0,b,cpu0,1\n0,a,net.lo.rx,1\n0,a,net.lo.rx_packets,1\n0,a,net.lo.tx,1\n",
        )
        .unwrap();
        let g: Vec<(String, Group, &str, usize)> = graphs(&s)
            .into_iter()
            .map(|g| (g.role, g.group, g.unit, g.series.len()))
            .collect();
        assert_eq!(
            g,
            vec![
                ("a".into(), Group::Net, "bit/s", 2),
                ("a".into(), Group::Net, "packets/s", 1),
                ("b".into(), Group::Cpu, "%", 2),
            ]
        );
    }
}
