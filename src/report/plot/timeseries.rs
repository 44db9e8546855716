//! One run's monitoring samples as a graph (`mpf plot ID --run N --metric M`): a line per role
//! and metric over the time since the run started, the run's steps as bands with their names,
//! one panel per unit. Drawn with the same fonts, colours and files (SVG, PNG, PDF with
//! provenance) as the result graphs.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Error, Result};
use crate::report::plot::output::{encode_svg, register_fonts, write, Format};
use crate::report::plot::provenance::Provenance;
use crate::report::plot::render::{
    colour, draw_err, font, nice_ticks, wrap_caption, TickAxis, AXIS_FONT, CAPTION_FONT,
    CAPTION_HEIGHT, LEGEND_FONT, NOTE_FONT, TICK_FONT,
};
use crate::store::record::RunRecord;
use crate::store::timeseries::{metric_kind, read_run, runs_with_samples, RunSamples};
use crate::store::ResultSet;
use crate::units::{display_scale, format_number};

/// The most lines a panel draws: as many as the palette has colours, so that no two lines of
/// a panel look alike.
pub const MAX_PANEL_LINES: usize = 8;

const WIDTH: u32 = 900;
const TITLE_HEIGHT: u32 = 40;
const PANEL_HEIGHT: u32 = 380;
const LEGEND_ROW: u32 = 26;

/// A step on the time axis: from its first start to its last end over the roles it ran on.
#[derive(Debug, Clone, PartialEq)]
pub struct StepMark {
    pub name: String,
    pub start: f64,
    pub end: f64,
}

/// The marks of a run's steps, in the order they started. Steps recorded without a start (sets
/// from before mpf kept it) have none.
pub fn step_marks(r: &RunRecord) -> Vec<StepMark> {
    let mut marks: Vec<StepMark> = Vec::new();
    for s in &r.steps {
        let Some(start) = s.start.filter(|x| x.is_finite()) else {
            continue;
        };
        let end = start + s.duration.max(0.0);
        match marks.iter_mut().find(|m| m.name == s.name) {
            Some(m) => {
                m.start = m.start.min(start);
                m.end = m.end.max(end);
            }
            None => marks.push(StepMark {
                name: s.name.clone(),
                start,
                end,
            }),
        }
    }
    marks.sort_by(|a, b| a.start.total_cmp(&b.start));
    marks
}

/// The series of `samples` a `--metric` and `--role` choose: the metric of that exact name,
/// else every metric under it (`net` gives `net.<iface>.rx`, `.tx`...); the role of that
/// name, or its machines (`role.host`), or a sampler it shares with other roles
/// (`client+server`).
pub fn select(samples: &RunSamples, metric: &str, role: Option<&str>) -> Vec<usize> {
    let role_ok = |r: &str| match role {
        None => true,
        Some(want) => r
            .split('+')
            .any(|r| r == want || r.strip_prefix(want).is_some_and(|t| t.starts_with('.'))),
    };
    let exact = samples.series.iter().any(|k| k.metric == metric);
    let under = format!("{metric}.");
    (0..samples.series.len())
        .filter(|&i| {
            let k = &samples.series[i];
            let metric_ok = if exact {
                k.metric == metric
            } else {
                k.metric.starts_with(&under)
            };
            metric_ok && role_ok(&k.role)
        })
        .collect()
}

/// One line: a role's metric.
#[derive(Debug, Clone)]
pub struct Line {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// The lines that share a unit, and so an axis.
#[derive(Debug, Clone)]
pub struct UnitPanel {
    pub unit: &'static str,
    pub lines: Vec<Line>,
}

/// A run's graph of one metric, ready to draw.
#[derive(Debug, Clone)]
pub struct RunFigure {
    pub run: usize,
    /// The metric asked for (`net`), and what the y axes are titled: the full name when it is
    /// one metric (`prom.app_temp{sensor="a"}`), else the one asked for.
    pub metric: String,
    pub y_name: String,
    pub title: String,
    pub panels: Vec<UnitPanel>,
    pub steps: Vec<StepMark>,
    pub caption: String,
    pub provenance: Provenance,
}

/// Up to `n` names, then how many more.
fn some_names(names: &[String], n: usize) -> String {
    let mut text = names.iter().take(n).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > n {
        text.push_str(&format!(" and {} more", names.len() - n));
    }
    text
}

/// The chosen series by unit, units in the order they first appear.
fn by_unit(samples: &RunSamples, chosen: &[usize]) -> Vec<(&'static str, Vec<usize>)> {
    let mut out: Vec<(&'static str, Vec<usize>)> = Vec::new();
    for &i in chosen {
        let unit = metric_kind(&samples.series[i].metric).unit;
        match out.iter_mut().find(|(u, _)| *u == unit) {
            Some((_, v)) => v.push(i),
            None => out.push((unit, vec![i])),
        }
    }
    out
}

/// The positions of the `max` series with the highest peaks (the busiest interfaces, not the
/// idle ones), in their original order. Series whose peak stays below a thousandth of the
/// highest are left out: at the panel's scale they are a flat line on zero (an idle
/// interface), which only crowds the legend.
pub fn busiest(series: &[Vec<(f64, f64)>], max: usize) -> Vec<usize> {
    let peak = peaks(series);
    let mut order: Vec<usize> = (0..series.len()).collect();
    order.sort_by(|&a, &b| peak[b].total_cmp(&peak[a]));
    let top = order.first().map_or(0.0, |&i| peak[i]);
    let moving = order
        .iter()
        .take_while(|&&i| top > 0.0 && peak[i] >= top / 1000.0)
        .count();
    order.truncate(max.min(moving.max(1)));
    order.sort_unstable();
    order
}

fn peaks(series: &[Vec<(f64, f64)>]) -> Vec<f64> {
    series
        .iter()
        .map(|p| p.iter().map(|x| x.1.abs()).fold(0.0, f64::max))
        .collect()
}

/// Why each series `busiest` did not keep was left out, for a caption: `(label, why)`, the
/// idle ones (a flat line on zero at the panel's scale) apart from those beyond the
/// `max` busiest.
pub fn left_out(
    series: &[Vec<(f64, f64)>],
    kept: &[usize],
    max: usize,
    label: impl Fn(usize) -> String,
) -> Vec<String> {
    let peak = peaks(series);
    let top = kept.iter().map(|&i| peak[i]).fold(0.0, f64::max);
    let (mut idle, mut beyond) = (Vec::new(), Vec::new());
    for i in (0..series.len()).filter(|i| !kept.contains(i)) {
        if peak[i] < top / 1000.0 || top == 0.0 {
            idle.push(label(i));
        } else {
            beyond.push(label(i));
        }
    }
    let mut out = Vec::new();
    if !idle.is_empty() {
        out.push(format!(
            "idle (peak below 1/1000 of the busiest): {}",
            some_names(&idle, 6)
        ));
    }
    if !beyond.is_empty() {
        out.push(format!(
            "beyond the {max} busiest of the unit: {}",
            some_names(&beyond, 6)
        ));
    }
    out
}

/// The record and samples of run `run`, or why there are none (exit 2).
pub fn run_samples(set: &ResultSet, run: usize) -> Result<(&RunRecord, RunSamples)> {
    let id = &set.manifest.id;
    let record = set.records.iter().find(|r| r.index == run).ok_or_else(|| {
        let last = set.records.iter().map(|r| r.index).max();
        Error::Usage(match last {
            Some(last) => format!(
                "{id} has no recorded run {run}: its {} recorded runs are numbered 0 to {last}",
                set.records.len()
            ),
            None => format!("{id} has no recorded run"),
        })
    })?;
    match read_run(&set.dir, run)? {
        Some(s) => Ok((record, s)),
        None => {
            let with: Vec<String> = runs_with_samples(set)
                .iter()
                .map(|i| i.to_string())
                .collect();
            Err(Error::Usage(if with.is_empty() {
                format!("{id} has no monitoring samples (its experiment has no `monitor:` section)")
            } else {
                format!(
                    "run {run} of {id} has no monitoring samples; runs with samples: {}",
                    some_names(&with, 10)
                )
            }))
        }
    }
}

/// Why `--metric`/`--role` chose nothing: the names the run has.
fn nothing_selected(samples: &RunSamples, metric: &str, role: Option<&str>) -> Error {
    let mut roles: Vec<String> = samples.series.iter().map(|k| k.role.clone()).collect();
    roles.sort();
    roles.dedup();
    if let Some(r) = role {
        if select(samples, metric, None).is_empty() {
            // The metric is the problem; say so below.
        } else {
            return Error::Usage(format!(
                "run {} has no role '{r}' with metric '{metric}'; its roles: {}",
                samples.run,
                some_names(&roles, 10)
            ));
        }
    }
    let mut metrics: Vec<String> = samples.series.iter().map(|k| k.metric.clone()).collect();
    metrics.sort();
    metrics.dedup();
    let mut groups: Vec<&str> = metrics
        .iter()
        .filter_map(|m| m.split_once('.').map(|(g, _)| g))
        .collect();
    groups.dedup();
    Error::Usage(format!(
        "run {} has no metric '{metric}'; its metrics: {}{}",
        samples.run,
        some_names(&metrics, 12),
        if groups.is_empty() {
            String::new()
        } else {
            format!(" (or every metric under {})", groups.join(", "))
        }
    ))
}

/// The graph of `metric` (and `role`) in run `run` of `set`.
pub fn run_figure(
    set: &ResultSet,
    run: usize,
    metric: &str,
    role: Option<&str>,
) -> Result<RunFigure> {
    let (record, samples) = run_samples(set, run)?;
    let chosen = select(&samples, metric, role);
    if chosen.is_empty() {
        return Err(nothing_selected(&samples, metric, role));
    }
    let keys: Vec<_> = chosen.iter().map(|&i| &samples.series[i]).collect();
    let one_metric = keys.iter().all(|k| k.metric == keys[0].metric);
    let one_role = keys.iter().all(|k| k.role == keys[0].role);
    let label = |i: usize| {
        let k = &samples.series[i];
        match (one_metric, one_role) {
            (true, _) => k.role.clone(),
            (false, true) => k.metric.clone(),
            (false, false) => format!("{} {}", k.role, k.metric),
        }
    };
    let mut panels: Vec<UnitPanel> = Vec::new();
    let mut drawn = 0;
    let mut omitted: Vec<String> = Vec::new();
    for (unit, series) in by_unit(&samples, &chosen) {
        let points: Vec<Vec<(f64, f64)>> = series.iter().map(|&i| samples.points(i)).collect();
        let keep = busiest(&points, MAX_PANEL_LINES);
        omitted.extend(left_out(&points, &keep, MAX_PANEL_LINES, |j| {
            label(series[j])
        }));
        drawn += keep.len();
        let lines = keep
            .into_iter()
            .map(|j| Line {
                label: label(series[j]),
                points: points[j].clone(),
            })
            .collect();
        panels.push(UnitPanel { unit, lines });
    }
    let point = crate::store::point_text(&set.manifest.variables, &record.point);
    let mut title = format!("{metric} in run {run}");
    if one_role {
        title.push_str(&format!(" on {}", keys[0].role));
    }
    let mut caption = vec![format!(
        "{}run {run}, repetition {}",
        if point.is_empty() {
            String::new()
        } else {
            format!("{point}, ")
        },
        record.repetition
    )];
    let steps = step_marks(record);
    if steps.is_empty() {
        caption.push("no step times recorded".into());
    } else {
        caption.push("grey bands: the steps".into());
    }
    if drawn < chosen.len() {
        caption.push(format!(
            "{drawn} of {} series drawn; left out: {} (draw one with --role or a full metric name)",
            chosen.len(),
            omitted.join("; ")
        ));
    }
    if let Some(n) = samples.skipped_note() {
        caption.push(n);
    }
    Ok(RunFigure {
        run,
        metric: metric.to_string(),
        y_name: if one_metric {
            keys[0].metric.clone()
        } else {
            metric.to_string()
        },
        title,
        panels,
        steps,
        caption: caption.join("; "),
        provenance: Provenance::of(set),
    })
}

/// Draws the graph of `metric` (and `role`) in run `run` into each of `paths` (SVG, PNG or
/// PDF by its extension).
pub fn plot_run(
    set: &ResultSet,
    run: usize,
    metric: &str,
    role: Option<&str>,
    paths: &[std::path::PathBuf],
) -> Result<RunFigure> {
    let formats = paths
        .iter()
        .map(|p| Format::from_path(p))
        .collect::<Result<Vec<_>>>()?;
    let fig = run_figure(set, run, metric, role)?;
    let svg = to_svg(&fig)?;
    for (path, format) in paths.iter().zip(formats) {
        write(
            path,
            &encode_svg(svg.clone(), &fig.provenance, &fig.title, format)?,
        )?;
    }
    Ok(fig)
}

/// Rows of legend entries: each entry's line index and x position.
type LegendRows = Vec<Vec<(usize, i32)>>;

/// Legend rows: entries laid out left to right, wrapped at the width.
fn legend_rows(labels: &[String]) -> LegendRows {
    let mut rows: LegendRows = vec![Vec::new()];
    let mut x = 10;
    for (i, l) in labels.iter().enumerate() {
        // DejaVu Sans at the legend size averages about 9 pixels a character.
        let w = 34 + 9 * l.chars().count() as i32;
        if x + w > WIDTH as i32 - 10 && x > 10 {
            rows.push(Vec::new());
            x = 10;
        }
        if let Some(row) = rows.last_mut() {
            row.push((i, x));
        }
        x += w + 14;
    }
    rows
}

/// Draws `fig` as an SVG document.
pub fn to_svg(fig: &RunFigure) -> Result<String> {
    register_fonts()?;
    // Each panel has its legend above it; colours restart in every panel.
    let legends: Vec<(Vec<String>, LegendRows)> = fig
        .panels
        .iter()
        .map(|p| {
            let labels: Vec<String> = p.lines.iter().map(|l| l.label.clone()).collect();
            let rows = legend_rows(&labels);
            (labels, rows)
        })
        .collect();
    let heights: Vec<u32> = legends
        .iter()
        .map(|(_, rows)| LEGEND_ROW * rows.len() as u32 + PANEL_HEIGHT)
        .collect();
    let caption = wrap_caption(&fig.caption, WIDTH);
    let body_h: u32 = heights.iter().sum();
    let size = (
        WIDTH,
        TITLE_HEIGHT + body_h + CAPTION_HEIGHT * caption.len() as u32,
    );
    let x_end = fig
        .panels
        .iter()
        .flat_map(|p| p.lines.iter().flat_map(|l| l.points.iter().map(|p| p.0)))
        .chain(fig.steps.iter().map(|s| s.end))
        .fold(0.0f64, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let (title, rest) = root.split_vertically(TITLE_HEIGHT);
        let (mut body, note) = rest.split_vertically(body_h);
        title
            .draw(&Text::new(
                fig.title.clone(),
                (WIDTH as i32 / 2, TITLE_HEIGHT as i32 / 2),
                font(CAPTION_FONT).pos(Pos::new(HPos::Center, VPos::Center)),
            ))
            .map_err(draw_err)?;
        let axes: Vec<YAxis> = fig.panels.iter().map(y_axis).collect();
        let label_width = widest_tick(&body, &axes);
        for (p, (panel, axis)) in fig.panels.iter().zip(&axes).enumerate() {
            let (labels, rows) = &legends[p];
            let (block, rest) = body.split_vertically(heights[p]);
            let (legend, area) = block.split_vertically(LEGEND_ROW * rows.len() as u32);
            draw_legend(&legend, labels, rows)?;
            draw_panel(&area, fig, panel, axis, (x_end, label_width), p == 0)?;
            body = rest;
        }
        let style = font(NOTE_FONT)
            .color(&RGBColor(90, 90, 90))
            .pos(Pos::new(HPos::Center, VPos::Center));
        for (i, line) in caption.iter().enumerate() {
            let y = (CAPTION_HEIGHT as i32) * i as i32 + CAPTION_HEIGHT as i32 / 2;
            note.draw(&Text::new(
                line.clone(),
                (WIDTH as i32 / 2, y),
                style.clone(),
            ))
            .map_err(draw_err)?;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

fn draw_legend(
    area: &DrawingArea<SVGBackend, Shift>,
    labels: &[String],
    rows: &[Vec<(usize, i32)>],
) -> Result<()> {
    let style = font(LEGEND_FONT).pos(Pos::new(HPos::Left, VPos::Center));
    for (r, row) in rows.iter().enumerate() {
        let y = LEGEND_ROW as i32 * r as i32 + LEGEND_ROW as i32 / 2;
        for &(i, x) in row {
            area.draw(&PathElement::new(
                vec![(x, y), (x + 24, y)],
                colour(i).stroke_width(3),
            ))
            .map_err(draw_err)?;
            area.draw(&Text::new(labels[i].clone(), (x + 30, y), style.clone()))
                .map_err(draw_err)?;
        }
    }
    Ok(())
}

/// The y range of a panel in display units: from zero (or the lowest value below it) to a bit
/// above the highest; percentages to 100 when they stay under it.
fn y_range(unit: &str, lo: f64, hi: f64) -> (f64, f64) {
    if unit == "%" && lo >= 0.0 && hi <= 100.0 {
        return (0.0, 100.0);
    }
    let lo = lo.min(0.0);
    let span = if hi > lo { hi - lo } else { hi.abs().max(1.0) };
    (lo, lo.max(hi) + 0.06 * span)
}

/// A panel's y axis: the divisor to display units, their name, the range and the ticks.
struct YAxis {
    div: f64,
    unit: String,
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

fn y_axis(panel: &UnitPanel) -> YAxis {
    let values = panel
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1));
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let (div, unit) = display_scale(panel.unit, lo.abs().max(hi.abs()));
    let (lo, hi) = y_range(panel.unit, lo / div, hi / div);
    YAxis {
        div,
        unit,
        lo,
        hi,
        ticks: nice_ticks(lo, hi, 6),
    }
}

/// The width of the widest y tick label of any panel, so that every panel's plot starts at
/// the same x and their time axes line up.
fn widest_tick(area: &DrawingArea<SVGBackend, Shift>, axes: &[YAxis]) -> u32 {
    axes.iter()
        .flat_map(|a| a.ticks.iter())
        .map(|t| {
            area.estimate_text_size(&format_number(*t), &font(TICK_FONT))
                .map(|(w, _)| w)
                .unwrap_or(40)
        })
        .max()
        .unwrap_or(40)
}

fn draw_panel(
    area: &DrawingArea<SVGBackend, Shift>,
    fig: &RunFigure,
    panel: &UnitPanel,
    axis: &YAxis,
    (x_end, label_width): (f64, u32),
    label_steps: bool,
) -> Result<()> {
    let YAxis {
        div,
        ref unit,
        lo: y0,
        hi: y1,
        ..
    } = *axis;
    let x1 = if x_end > 0.0 { x_end * 1.02 } else { 1.0 };
    let y_title = if unit.is_empty() {
        fig.y_name.clone()
    } else {
        format!("{} ({unit})", fig.y_name)
    };
    let mut chart = ChartBuilder::on(area)
        .margin_top(10)
        .margin_right(24)
        .margin_left(6)
        .margin_bottom(6)
        .x_label_area_size(50)
        .y_label_area_size(label_width + 40)
        .build_cartesian_2d(
            TickAxis::new(0.0, x1, nice_ticks(0.0, x1, 8)),
            TickAxis::new(y0, y1, axis.ticks.clone()),
        )
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .bold_line_style(RGBColor(225, 225, 225).stroke_width(1))
        .light_line_style(TRANSPARENT)
        .axis_style(BLACK.stroke_width(1))
        .x_desc("Time since the run started (s)")
        .y_desc(y_title)
        .label_style(font(TICK_FONT))
        .axis_desc_style(font(AXIS_FONT))
        .x_label_formatter(&|v| format_number(*v))
        .y_label_formatter(&|v| format_number(*v))
        .draw()
        .map_err(draw_err)?;
    let grey = RGBColor(110, 110, 110);
    let plot = chart.plotting_area();
    for (i, s) in fig.steps.iter().enumerate() {
        plot.draw(&Rectangle::new(
            [(s.start, y0), (s.end.max(s.start), y1)],
            grey.mix(0.10).filled(),
        ))
        .map_err(draw_err)?;
        plot.draw(&PathElement::new(
            vec![(s.start, y0), (s.start, y1)],
            grey.stroke_width(1),
        ))
        .map_err(draw_err)?;
        if label_steps {
            // Staggered, so that steps that start together keep their names apart.
            let dy = 4 + 18 * (i % 3) as i32;
            plot.draw(
                &(EmptyElement::at((s.start, y1))
                    + Text::new(
                        s.name.clone(),
                        (4, dy),
                        font(NOTE_FONT)
                            .color(&grey)
                            .pos(Pos::new(HPos::Left, VPos::Top)),
                    )),
            )
            .map_err(draw_err)?;
        }
    }
    for (j, line) in panel.lines.iter().enumerate() {
        let c = colour(j);
        let pts: Vec<(f64, f64)> = line.points.iter().map(|&(t, v)| (t, v / div)).collect();
        if pts.len() == 1 {
            chart
                .plotting_area()
                .draw(&Circle::new(pts[0], 3, c.filled()))
                .map_err(draw_err)?;
        }
        chart
            .draw_series(LineSeries::new(pts, c.stroke_width(2)))
            .map_err(draw_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::record::StepRecord;
    use crate::store::timeseries::parse;
    use std::path::Path;

    fn samples() -> RunSamples {
        parse(
            Path::new("m.csv"),
            0,
            b"time,role,metric,value\n\
              0,server,cpu,1\n0,server,cpu0,1\n0,client.h1,cpu,2\n0,client.h2,cpu,3\n\
              0,server,net.lo.rx,5\n0,server,net.lo.rx_packets,5\n0,server,network,1\n",
        )
        .unwrap()
    }

    #[test]
    fn metrics_are_chosen_by_name_then_by_prefix_and_roles_with_their_machines() {
        let s = samples();
        let names = |v: Vec<usize>| -> Vec<String> {
            v.iter()
                .map(|&i| format!("{} {}", s.series[i].role, s.series[i].metric))
                .collect()
        };
        assert_eq!(
            names(select(&s, "cpu", None)),
            ["server cpu", "client.h1 cpu", "client.h2 cpu"]
        );
        assert_eq!(
            names(select(&s, "cpu", Some("client"))),
            ["client.h1 cpu", "client.h2 cpu"]
        );
        assert_eq!(
            names(select(&s, "cpu", Some("client.h2"))),
            ["client.h2 cpu"]
        );
        assert_eq!(names(select(&s, "cpu", Some("clie"))), Vec::<String>::new());
        assert_eq!(
            names(select(&s, "net", None)),
            ["server net.lo.rx", "server net.lo.rx_packets"]
        );
        assert_eq!(names(select(&s, "net.lo", None)).len(), 2);
        assert!(select(&s, "disk", None).is_empty());
    }

    #[test]
    fn nothing_selected_names_what_the_run_has() {
        let s = samples();
        assert_eq!(
            nothing_selected(&s, "disk", None).to_string(),
            "run 0 has no metric 'disk'; its metrics: cpu, cpu0, net.lo.rx, net.lo.rx_packets, network (or every metric under net)"
        );
        assert_eq!(
            nothing_selected(&s, "cpu", Some("db")).to_string(),
            "run 0 has no role 'db' with metric 'cpu'; its roles: client.h1, client.h2, server"
        );
    }

    #[test]
    fn steps_span_their_roles_and_old_records_have_none() {
        let step = |name: &str, start: Option<f64>, duration: f64| StepRecord {
            name: name.into(),
            role: "r".into(),
            host: "h".into(),
            node: None,
            exit: Some(0),
            duration,
            timed_out: false,
            background: false,
            start,
        };
        let mut r: RunRecord = serde_json::from_value(serde_json::json!({
            "index": 0, "point_index": 0, "point": {}, "repetition": 0, "status": "ok",
            "attempts": 1, "results": {}, "steps": [], "started": "", "ended": ""
        }))
        .unwrap();
        r.steps = vec![
            step("load", Some(1.0), 2.0),
            step("serve", Some(0.1), 5.0),
            step("load", Some(1.5), 2.0),
            step("old", None, 1.0),
        ];
        let marks = step_marks(&r);
        assert_eq!(
            marks,
            vec![
                StepMark {
                    name: "serve".into(),
                    start: 0.1,
                    end: 5.1
                },
                StepMark {
                    name: "load".into(),
                    start: 1.0,
                    end: 3.5
                },
            ]
        );
    }

    #[test]
    fn the_busiest_series_are_kept_in_their_order() {
        let s = |peak: f64| vec![(0.0, 0.0), (1.0, peak)];
        let series = vec![s(1.0), s(9.0), s(0.0), s(5.0), s(-7.0)];
        assert_eq!(busiest(&series, 3), vec![1, 3, 4]);
        assert_eq!(
            busiest(&series, 8),
            vec![0, 1, 3, 4],
            "the idle one left out"
        );
        let faint = vec![s(5000.0), s(4.0), s(6.0)];
        assert_eq!(
            busiest(&faint, 8),
            vec![0, 2],
            "below a thousandth of the top"
        );
        let idle = vec![s(0.0), s(0.0)];
        assert_eq!(busiest(&idle, 8), vec![0], "one line when nothing moves");
    }

    #[test]
    fn percentages_stay_on_a_0_to_100_axis() {
        assert_eq!(y_range("%", 3.0, 97.0), (0.0, 100.0));
        assert_eq!(y_range("%", 3.0, 250.0).0, 0.0);
        let (lo, hi) = y_range("B", -2.0, 8.0);
        assert_eq!(lo, -2.0);
        assert!(hi > 8.0);
    }
}
