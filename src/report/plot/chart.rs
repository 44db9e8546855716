//! A figure the experiment asks for (`plot:` entries of SPEC §17) that is not one result's
//! automatic graph: several results on one or two y axes, a result against a result, the CDF
//! of a series result's samples, samples against time. A renderer-neutral model (`Chart`) and
//! its SVG drawing, with the fonts, palette and marker shapes of the other graphs.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Serialize;

use crate::error::Result;
use crate::model::FigureKind;
use crate::report::plot::figure::{chosen_ticks, Kind};
use crate::report::plot::provenance::Provenance;
use crate::report::plot::render::{
    colour, draw_err, draw_marker, font, linear_y_range, nice_ticks, wrap_caption, TickAxis,
    AXIS_FONT, CAPTION_HEIGHT, LEGEND_FONT, NOTE_FONT, TICK_FONT,
};
use crate::units::format_number;

const SIZE: (u32, u32) = (680, 420);
const LEGEND_ROW: u32 = 28;

/// How a trace is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Style {
    /// Joined markers (with whiskers where given).
    Line,
    /// Markers only.
    Markers,
    /// A staircase through the points (an empirical CDF).
    Step,
}

/// One line or set of markers, in display units.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    pub label: String,
    /// 0: the left y axis, 1: the right one.
    pub axis: usize,
    pub style: Style,
    pub colour: usize,
    pub shape: usize,
    pub points: Vec<(f64, f64)>,
    /// `(x, low, high)` intervals drawn as whiskers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub whiskers: Vec<(f64, f64, f64)>,
}

/// A y axis: its title (`rtt.p99 (ms)`) and scale.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Axis {
    pub title: String,
    pub log: bool,
}

/// Everything the drawing needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chart {
    pub kind: FigureKind,
    /// The file name's stem before sanitising: `rtt.p50+rtt.p99-vs-rate`.
    pub name: String,
    pub x_title: String,
    pub log_x: bool,
    /// Category labels by position, for an x axis of categories; empty for a numeric one.
    pub categories: Vec<String>,
    /// One or two.
    pub axes: Vec<Axis>,
    pub traces: Vec<Trace>,
    pub caption: String,
    #[serde(skip)]
    pub provenance: Provenance,
}

fn at(log: bool, v: f64) -> Option<f64> {
    match log {
        true if v > 0.0 => Some(v.log10()),
        true => None,
        false => v.is_finite().then_some(v),
    }
}

/// The axis range of `values` (already in axis coordinates).
/// `percent`: the values are a percentage (`render::linear_y_range`).
fn range(values: impl Iterator<Item = f64>, log: bool, zero_ok: bool, percent: bool) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if log || !zero_ok {
        let span = if hi > lo { hi - lo } else { 1.0 };
        return (lo - 0.04 * span, hi + 0.04 * span);
    }
    linear_y_range(Kind::Line, lo, hi, percent)
}

fn ticks(log: bool, (lo, hi): (f64, f64)) -> Vec<f64> {
    if log {
        let t: Vec<f64> = chosen_ticks(10f64.powf(lo), 10f64.powf(hi), true)
            .into_iter()
            .map(f64::log10)
            .filter(|t| *t >= lo && *t <= hi)
            .collect();
        if t.len() >= 2 {
            return t;
        }
    }
    nice_ticks(lo, hi, 6)
}

fn label(log: bool, v: f64) -> String {
    format_number(if log { 10f64.powf(v) } else { v })
}

impl Chart {
    fn x_range(&self) -> (f64, f64) {
        if !self.categories.is_empty() {
            return (-0.6, self.categories.len() as f64 - 0.4);
        }
        let xs = self
            .traces
            .iter()
            .flat_map(|t| t.points.iter().map(|p| p.0))
            .filter_map(|x| at(self.log_x, x));
        let (lo, hi) = range(xs, self.log_x, false, false);
        (lo, hi)
    }

    fn y_range(&self, axis: usize) -> (f64, f64) {
        let log = self.axes[axis].log;
        let ys = self
            .traces
            .iter()
            .filter(|t| t.axis == axis)
            .flat_map(|t| {
                t.points
                    .iter()
                    .map(|p| p.1)
                    .chain(t.whiskers.iter().flat_map(|w| [w.1, w.2]))
            })
            .filter_map(|y| at(log, y));
        // The axis of a percentage is titled `name (%)`.
        let percent = self.axes[axis].title.ends_with("%)");
        let r = range(ys, log, true, percent);
        if self.kind == FigureKind::Cdf {
            return (0.0, 1.02);
        }
        r
    }
}

/// Draws `chart` as an SVG document.
pub fn to_svg(chart: &Chart) -> Result<String> {
    crate::report::plot::output::register_fonts()?;
    let caption = wrap_caption(&chart.caption, SIZE.0);
    let legend = legend_rows(chart);
    let legend_h = LEGEND_ROW * legend.len() as u32 + if legend.is_empty() { 0 } else { 6 };
    let size = (
        SIZE.0,
        SIZE.1 + legend_h + CAPTION_HEIGHT * caption.len() as u32,
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let (top, rest) = root.split_vertically(legend_h);
        let (body, note) = rest.split_vertically(SIZE.1);
        draw_legend(&top, chart, &legend)?;
        draw_body(&body, chart)?;
        let style = font(NOTE_FONT)
            .color(&RGBColor(90, 90, 90))
            .pos(Pos::new(HPos::Center, VPos::Center));
        for (i, line) in caption.iter().enumerate() {
            let y = (CAPTION_HEIGHT as i32) * i as i32 + CAPTION_HEIGHT as i32 / 2;
            note.draw(&Text::new(
                line.clone(),
                (SIZE.0 as i32 / 2, y),
                style.clone(),
            ))
            .map_err(draw_err)?;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

fn draw_body(area: &DrawingArea<SVGBackend, plotters::coord::Shift>, c: &Chart) -> Result<()> {
    let (x0, x1) = c.x_range();
    let xt: Vec<f64> = if c.categories.is_empty() {
        ticks(c.log_x, (x0, x1))
    } else {
        (0..c.categories.len()).map(|i| i as f64).collect()
    };
    let ranges: Vec<(f64, f64)> = (0..c.axes.len()).map(|a| c.y_range(a)).collect();
    let yt: Vec<Vec<f64>> = ranges
        .iter()
        .zip(&c.axes)
        .map(|(r, a)| ticks(a.log, *r))
        .collect();
    let widest = |a: usize| {
        yt[a]
            .iter()
            .map(|t| {
                area.estimate_text_size(&label(c.axes[a].log, *t), &font(TICK_FONT))
                    .map(|(w, _)| w)
                    .unwrap_or(40)
            })
            .max()
            .unwrap_or(40)
    };
    let right = if c.axes.len() > 1 {
        widest(1) as i32 + 44
    } else {
        0
    };
    let mut chart = ChartBuilder::on(area)
        .margin_top(10)
        .margin_right(20 + right)
        .margin_left(6)
        .margin_bottom(6)
        .x_label_area_size(50)
        .y_label_area_size(widest(0) + 40)
        .build_cartesian_2d(
            TickAxis::new(x0, x1, xt),
            TickAxis::new(ranges[0].0, ranges[0].1, yt[0].clone()),
        )
        .map_err(draw_err)?;
    let x_label = |v: &f64| {
        if c.categories.is_empty() {
            label(c.log_x, *v)
        } else {
            c.categories
                .get(v.round().max(0.0) as usize)
                .cloned()
                .unwrap_or_default()
        }
    };
    let log0 = c.axes[0].log;
    let y_label = move |v: &f64| label(log0, *v);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .bold_line_style(RGBColor(225, 225, 225).stroke_width(1))
        .light_line_style(TRANSPARENT)
        .axis_style(BLACK.stroke_width(1))
        .x_desc(c.x_title.as_str())
        .y_desc(c.axes[0].title.as_str())
        .label_style(font(TICK_FONT))
        .axis_desc_style(font(AXIS_FONT))
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .draw()
        .map_err(draw_err)?;
    let plotting = chart.plotting_area();
    if c.axes.len() > 1 {
        draw_right_axis(plotting, c, &ranges, &yt[1], (x1, right))?;
    }
    draw_traces(plotting, c, &ranges)
}

/// The right y axis, drawn beside the plotting area: its line, ticks, labels and title. Its
/// traces are drawn mapped onto the left axis's coordinates.
fn draw_right_axis(
    area: &Plotting,
    c: &Chart,
    ranges: &[(f64, f64)],
    ticks: &[f64],
    (x1, width): (f64, i32),
) -> Result<()> {
    let (l0, l1) = ranges[0];
    let (r0, r1) = ranges[1];
    let map = |v: f64| l0 + (v - r0) / (r1 - r0) * (l1 - l0);
    area.draw(&PathElement::new(
        vec![(x1, l0), (x1, l1)],
        BLACK.stroke_width(1),
    ))
    .map_err(draw_err)?;
    let style = font(TICK_FONT).pos(Pos::new(HPos::Left, VPos::Center));
    for t in ticks {
        area.draw(
            &(EmptyElement::at((x1, map(*t)))
                + PathElement::new(vec![(0, 0), (5, 0)], BLACK.stroke_width(1))
                + Text::new(label(c.axes[1].log, *t), (9, 0), style.clone())),
        )
        .map_err(draw_err)?;
    }
    let title = font(AXIS_FONT)
        .transform(FontTransform::Rotate90)
        .pos(Pos::new(HPos::Center, VPos::Center));
    area.draw(
        &(EmptyElement::at((x1, (l0 + l1) / 2.0))
            + Text::new(c.axes[1].title.clone(), (width - 6, 0), title)),
    )
    .map_err(draw_err)
}

type Plotting<'a> = DrawingArea<SVGBackend<'a>, Cartesian2d<TickAxis, TickAxis>>;

fn draw_traces(area: &Plotting, c: &Chart, ranges: &[(f64, f64)]) -> Result<()> {
    let (l0, l1) = ranges[0];
    let map = |axis: usize, y: f64| -> Option<f64> {
        let v = at(c.axes[axis].log, y)?;
        if axis == 0 {
            return Some(v);
        }
        let (r0, r1) = ranges[axis];
        Some(l0 + (v - r0) / (r1 - r0) * (l1 - l0))
    };
    let mx = |x: f64| -> Option<f64> {
        if c.categories.is_empty() {
            at(c.log_x, x)
        } else {
            Some(x)
        }
    };
    for t in &c.traces {
        let col = colour(t.colour);
        let pts: Vec<(f64, f64)> = t
            .points
            .iter()
            .filter_map(|&(x, y)| Some((mx(x)?, map(t.axis, y)?)))
            .collect();
        let dashed = t.axis == 1;
        for &(x, lo, hi) in &t.whiskers {
            if let (Some(x), Some(lo), Some(hi)) = (mx(x), map(t.axis, lo), map(t.axis, hi)) {
                area.draw(&PathElement::new(
                    vec![(x, lo), (x, hi)],
                    col.stroke_width(1),
                ))
                .map_err(draw_err)?;
            }
        }
        let path: Vec<(f64, f64)> = match t.style {
            Style::Markers => Vec::new(),
            Style::Line => pts.clone(),
            Style::Step => {
                let mut out = Vec::with_capacity(pts.len() * 2);
                let mut prev = 0.0;
                for &(x, y) in &pts {
                    out.push((x, prev));
                    out.push((x, y));
                    prev = y;
                }
                out
            }
        };
        if path.len() >= 2 {
            if dashed {
                area.draw(&plotters::element::DashedPathElement::new(
                    path,
                    6,
                    4,
                    col.stroke_width(2),
                ))
                .map_err(draw_err)?;
            } else {
                area.draw(&PathElement::new(path, col.stroke_width(2)))
                    .map_err(draw_err)?;
            }
        }
        let marks = match t.style {
            Style::Markers => pts.clone(),
            Style::Line if pts.len() <= 60 => pts.clone(),
            // A dozen markers tell long lines and staircases apart in grey print.
            _ => pts
                .iter()
                .step_by(pts.len().div_ceil(12).max(1))
                .copied()
                .collect(),
        };
        for p in marks {
            draw_marker(area, p, t.shape, col)?;
        }
    }
    Ok(())
}

/// The legend's entries (trace indices) in rows that fit the width.
fn legend_rows(c: &Chart) -> Vec<Vec<usize>> {
    if c.traces.len() <= 1 && c.axes.len() == 1 {
        return Vec::new();
    }
    let mut rows: Vec<Vec<usize>> = Vec::new();
    let mut used = u32::MAX;
    for (i, t) in c.traces.iter().enumerate() {
        let w = 40 + 9 * t.label.chars().count() as u32;
        if used.saturating_add(w) > SIZE.0 - 20 {
            rows.push(Vec::new());
            used = 0;
        }
        used += w;
        if let Some(r) = rows.last_mut() {
            r.push(i);
        }
    }
    rows
}

fn draw_legend(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    c: &Chart,
    rows: &[Vec<usize>],
) -> Result<()> {
    let style = font(LEGEND_FONT);
    let anchored = style.pos(Pos::new(HPos::Left, VPos::Center));
    for (r, row) in rows.iter().enumerate() {
        let widths: Vec<i32> = row
            .iter()
            .map(|&i| {
                area.estimate_text_size(&c.traces[i].label, &style)
                    .map(|(w, _)| w as i32)
                    .unwrap_or(60)
            })
            .collect();
        let total: i32 = widths.iter().map(|w| w + 26 + 16).sum();
        let mut x = ((SIZE.0 as i32 - total) / 2).max(8);
        let y = LEGEND_ROW as i32 * r as i32 + LEGEND_ROW as i32 / 2 + 4;
        for (&i, w) in row.iter().zip(widths) {
            let t = &c.traces[i];
            let col = colour(t.colour);
            if t.style != Style::Markers {
                let line = vec![(x, y), (x + 20, y)];
                if t.axis == 1 {
                    area.draw(&plotters::element::DashedPathElement::new(
                        line,
                        4,
                        3,
                        col.stroke_width(2),
                    ))
                } else {
                    area.draw(&PathElement::new(line, col.stroke_width(2)))
                }
                .map_err(draw_err)?;
            }
            draw_marker(area, (x + 10, y), t.shape, col)?;
            x += 26;
            area.draw(&Text::new(t.label.clone(), (x, y), anchored.clone()))
                .map_err(draw_err)?;
            x += w + 16;
        }
    }
    Ok(())
}
