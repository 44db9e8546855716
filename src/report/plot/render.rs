//! Drawing a `Figure` as SVG with plotters. PNG and PDF are made from this SVG (see `output`),
//! so the three formats show the same picture.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Error, Result};
use crate::report::plot::figure::{binned, Cell, Figure, Kind, Panel, MAX_LINE_POINTS};
use crate::report::plot::output::{register_fonts, FONT_FAMILY};
use crate::units::format_number;

/// Okabe–Ito colours, safe for the common colour-vision deficiencies (yellow last: faint on white).
pub const PALETTE: [(u8, u8, u8); 8] = [
    (0, 114, 178),
    (213, 94, 0),
    (0, 158, 115),
    (204, 121, 167),
    (230, 159, 0),
    (86, 180, 233),
    (0, 0, 0),
    (240, 228, 66),
];

/// Marker shapes cycle with colours so that series stay apart in grey print.
const SHAPES: usize = 5;

/// Size of a single-panel graph, in CSS pixels (PDF points at 72 dpi scale the same way).
const SINGLE: (u32, u32) = (640, 400);
/// Size of one panel of small multiples.
const PANEL: (u32, u32) = (420, 300);
const LEGEND_HEIGHT: u32 = 34;
/// Each further row of a legend too wide for one.
const LEGEND_ROW: u32 = 26;
/// The legend's key (line and marker) and the gap after each entry.
const LEGEND_KEY: i32 = 26;
const LEGEND_GAP: i32 = 16;
pub(crate) const CAPTION_HEIGHT: u32 = 26;

// Font sizes as plotters takes them (it writes size / 1.24 as the CSS pixel size).
pub(crate) const TICK_FONT: f64 = 17.0;
pub(crate) const AXIS_FONT: f64 = 20.0;
pub(crate) const CAPTION_FONT: f64 = 18.0;
pub(crate) const LEGEND_FONT: f64 = 18.0;
pub(crate) const NOTE_FONT: f64 = 15.0;

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<TickAxis, TickAxis>>;

/// A linear axis with exactly the given ticks (values, category positions or log10 of values:
/// a logarithmic axis is a linear one over log10, with its ticks at nice values).
pub struct TickAxis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl TickAxis {
    /// An axis from `lo` to `hi` with its ticks at `ticks`.
    pub fn new(lo: f64, hi: f64, ticks: Vec<f64>) -> TickAxis {
        TickAxis { lo, hi, ticks }
    }
}

impl Ranged for TickAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        if self.hi == self.lo {
            return (limit.0 + limit.1) / 2;
        }
        // A value the axis cannot place (a zero on a log axis: -inf) stays in reach of the
        // integers rather than overflowing them.
        let t = ((v - self.lo) / (self.hi - self.lo)).clamp(-4.0, 5.0);
        let t = if t.is_nan() { 0.0 } else { t };
        limit
            .0
            .saturating_add(((limit.1 - limit.0) as f64 * t).round() as i32)
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

pub(crate) fn draw_err(e: impl std::fmt::Display) -> Error {
    Error::Runtime(format!("failed to draw graph: {e}"))
}

pub fn colour(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

/// CSS colour of series `i`, shared with the HTML report.
pub fn css_colour(i: usize) -> String {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// Columns and rows of a grid of `n` panels.
fn grid(n: usize) -> (usize, usize) {
    let cols = (n as f64).sqrt().ceil().max(1.0) as usize;
    (cols, n.div_ceil(cols).max(1))
}

/// Draws `fig` as an SVG document.
pub fn to_svg(fig: &Figure) -> Result<String> {
    register_fonts()?;
    let (cols, rows) = grid(fig.panels.len());
    let (pw, ph) = if fig.panels.len() == 1 { SINGLE } else { PANEL };
    let width = pw * cols as u32;
    let legend = match fig.series_title {
        Some(_) => legend_rows(fig, width)?,
        None => Vec::new(),
    };
    let legend_h = match legend.len() {
        0 => 0,
        n => LEGEND_HEIGHT + LEGEND_ROW * (n as u32 - 1),
    };
    let caption = wrap_caption(&fig.caption, width);
    let size = (
        width,
        ph * rows as u32 + legend_h + CAPTION_HEIGHT * caption.len() as u32,
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let (legend_rows_of, (legend, rest)) = (legend, root.split_vertically(legend_h));
        let (body, note) = rest.split_vertically(ph * rows as u32);
        if !legend_rows_of.is_empty() {
            draw_legend(&legend, fig, &legend_rows_of)?;
        }
        let areas = body.split_evenly((rows, cols));
        for (panel, area) in fig.panels.iter().zip(areas.iter()) {
            draw_panel(area, fig, panel)?;
        }
        let style = font(NOTE_FONT)
            .color(&RGBColor(90, 90, 90))
            .pos(Pos::new(HPos::Center, VPos::Center));
        let w = note.dim_in_pixel().0 as i32;
        for (i, line) in caption.iter().enumerate() {
            let y = (CAPTION_HEIGHT as i32) * i as i32 + CAPTION_HEIGHT as i32 / 2;
            note.draw(&Text::new(line.clone(), (w / 2, y), style.clone()))
                .map_err(draw_err)?;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

/// The caption in lines that fit `width` pixels, broken after its `; ` separators, and a part
/// too long for a line (a long search condition) at its spaces.
pub(crate) fn wrap_caption(caption: &str, width: u32) -> Vec<String> {
    // DejaVu Sans at the note size averages under 8 pixels a character.
    let fits = (width as usize / 8).max(20);
    let mut lines: Vec<String> = Vec::new();
    let mut parts: Vec<String> = Vec::new();
    for part in caption.split("; ") {
        if part.chars().count() <= fits {
            parts.push(part.to_string());
            continue;
        }
        let mut line = String::new();
        for word in part.split(' ') {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > fits {
                parts.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        parts.push(line);
    }
    for part in parts {
        match lines.last_mut() {
            Some(l) if l.chars().count() + 2 + part.chars().count() <= fits => {
                l.push_str("; ");
                l.push_str(&part);
            }
            _ => lines.push(part),
        }
    }
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

pub(crate) fn font(size: f64) -> TextStyle<'static> {
    (FONT_FAMILY, size).into_font().color(&BLACK)
}

/// Coordinates on the x axis: log10 of the value on log axes.
fn tx(fig: &Figure, x: f64) -> f64 {
    if fig.choice.log_x {
        x.log10()
    } else {
        x
    }
}

/// Coordinates on the y axis: log10 of the value on log axes.
fn ty(fig: &Figure, y: f64) -> f64 {
    if fig.choice.log_y {
        y.log10()
    } else {
        y
    }
}

fn x_range(fig: &Figure) -> (f64, f64) {
    if fig.choice.kind != Kind::Line {
        return (-0.5, fig.x_ticks.len().max(1) as f64 - 0.5);
    }
    let xs = fig
        .panels
        .iter()
        .flat_map(|p| p.cells.iter().map(|c| tx(fig, c.x)))
        .chain(fig.x_ticks.iter().map(|(x, _)| tx(fig, *x)));
    let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    if !lo.is_finite() {
        return (-0.5, 0.5);
    }
    let pad = if hi > lo { 0.05 * (hi - lo) } else { 0.5 };
    (lo - pad, hi + pad)
}

/// The y range shared by every panel, so that small multiples compare at a glance, in axis
/// coordinates (log10 on a logarithmic axis).
pub fn y_range(fig: &Figure) -> (f64, f64) {
    let cells = fig.panels.iter().flat_map(|p| p.cells.iter());
    let (lo, hi) = cells.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), c| {
        let s = &c.summary;
        match fig.choice.kind {
            Kind::Box => (a.min(s.min), b.max(s.max)),
            _ => (a.min(c.lo.min(c.center)), b.max(c.hi.max(c.center))),
        }
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if fig.choice.log_y {
        // Only positive values have a place on a log axis: the range is theirs (a zero would
        // stretch it to 10^-308, and its ticks over the whole graph).
        let positive = fig
            .panels
            .iter()
            .flat_map(|p| p.cells.iter())
            .flat_map(|c| [c.lo, c.center, c.hi, c.summary.min, c.summary.max])
            .filter(|v| *v > 0.0 && v.is_finite());
        let (lo, hi) = positive.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        if !lo.is_finite() {
            return (0.0, 1.0);
        }
        let (lo, hi) = (ty(fig, lo), ty(fig, hi));
        let span = if hi > lo { hi - lo } else { 1.0 };
        return (lo - 0.04 * span, hi + 0.04 * span);
    }
    linear_y_range(fig.choice.kind, lo, hi, fig.y_unit.ends_with('%'))
}

/// Bars and ranges near zero start at zero; a range far from it is padded on both sides.
/// A percentage that is never negative starts at zero too: 100% alone is drawn on 0-106%, not
/// on 90-110% (a share above 100% that no run had).
pub(crate) fn linear_y_range(kind: Kind, mut lo: f64, mut hi: f64, percent: bool) -> (f64, f64) {
    let zero_based = kind == Kind::Bars || (lo >= 0.0 && (lo <= 0.5 * hi || (percent && hi > 0.0)));
    if zero_based {
        lo = lo.min(0.0);
        hi = hi.max(0.0);
    }
    let span = if hi > lo {
        hi - lo
    } else if hi != 0.0 {
        hi.abs() * 0.2
    } else {
        1.0
    };
    if hi == lo {
        lo -= span / 2.0;
        hi += span / 2.0;
    }
    let top = hi + 0.06 * span;
    let bottom = if zero_based && lo == 0.0 {
        0.0
    } else {
        lo - 0.06 * span
    };
    (bottom, top)
}

/// The y ticks in axis coordinates: nice values, or on a logarithmic axis 1, 2, 5 times the
/// powers of ten within the range (fewer when it spans many decades).
pub fn y_ticks(fig: &Figure, (lo, hi): (f64, f64)) -> Vec<f64> {
    if !fig.choice.log_y {
        return nice_ticks(lo, hi, 6);
    }
    log_ticks(lo, hi)
}

/// Ticks of a log axis from `lo` to `hi` (log10 of the values): decades, then 1-3 or 1-2-5
/// of each as the axis gets shorter; an axis shorter than those give three ticks on (13.8 to
/// 19.6, say) gets round values evenly spaced in value (14, 16, 18), not one tick at its middle.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let decades = (hi - lo).max(0.0);
    let mults: &[f64] = if decades > 4.0 {
        &[1.0]
    } else if decades > 1.5 {
        &[1.0, 3.0]
    } else {
        &[1.0, 2.0, 5.0]
    };
    let mut out = Vec::new();
    for e in (lo.floor() as i32)..=(hi.ceil() as i32) {
        for m in mults {
            let t = (m * 10f64.powi(e)).log10();
            if t >= lo && t <= hi {
                out.push(t);
            }
        }
    }
    if out.len() < 3 {
        let even: Vec<f64> = nice_ticks(10f64.powf(lo), 10f64.powf(hi), 5)
            .into_iter()
            .filter(|v| *v > 0.0)
            .map(f64::log10)
            .filter(|t| *t >= lo && *t <= hi)
            .collect();
        if even.len() > out.len() {
            return even;
        }
    }
    if out.is_empty() {
        out.push((lo + hi) / 2.0);
    }
    out
}

/// Evenly spaced "nice" ticks covering `lo..=hi` (about `n` of them).
pub fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let span = hi - lo;
    if span <= 0.0 || !span.is_finite() {
        return vec![lo];
    }
    let raw = span / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= n as f64)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// The label of a y tick (in axis coordinates).
pub fn y_tick_label(fig: &Figure, v: f64) -> String {
    if fig.choice.log_y {
        format_number(10f64.powf(v))
    } else {
        format_number(v)
    }
}

fn draw_panel(area: &DrawingArea<SVGBackend, Shift>, fig: &Figure, panel: &Panel) -> Result<()> {
    let (x0, x1) = x_range(fig);
    let (y0, y1) = y_range(fig);
    let ticks: Vec<f64> = fig.x_ticks.iter().map(|(x, _)| tx(fig, *x)).collect();
    let yticks = y_ticks(fig, (y0, y1));
    // The y label area holds the widest tick label and the axis title beside it, so that
    // neither is drawn over the other.
    let widest = yticks
        .iter()
        .map(|t| {
            area.estimate_text_size(&y_tick_label(fig, *t), &font(TICK_FONT))
                .map(|(w, _)| w)
                .unwrap_or(40)
        })
        .max()
        .unwrap_or(40);
    let mut builder = ChartBuilder::on(area);
    builder
        .margin_top(10)
        .margin_right(20)
        .margin_left(6)
        .margin_bottom(6)
        .x_label_area_size(if fig.x_title.is_empty() { 30 } else { 50 })
        .y_label_area_size(widest + 40);
    if !panel.title.is_empty() {
        builder.caption(&panel.title, font(CAPTION_FONT));
    }
    let mut chart = builder
        .build_cartesian_2d(
            TickAxis {
                lo: x0,
                hi: x1,
                ticks,
            },
            TickAxis {
                lo: y0,
                hi: y1,
                ticks: yticks,
            },
        )
        .map_err(draw_err)?;
    let x_label = |v: &f64| {
        fig.x_ticks
            .iter()
            .find(|(x, _)| (tx(fig, *x) - v).abs() <= 1e-9 * (1.0 + v.abs()))
            .map(|(_, l)| l.clone())
            .unwrap_or_default()
    };
    let y_label = |v: &f64| y_tick_label(fig, *v);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .bold_line_style(RGBColor(225, 225, 225).stroke_width(1))
        .light_line_style(TRANSPARENT)
        .axis_style(BLACK.stroke_width(1))
        .x_desc(fig.x_title.as_str())
        .y_desc(fig.y_title.as_str())
        .label_style(font(TICK_FONT))
        .axis_desc_style(font(AXIS_FONT))
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .draw()
        .map_err(draw_err)?;
    match fig.choice.kind {
        Kind::Line => draw_lines(&mut chart, fig, panel)?,
        Kind::Bars => draw_bars(&mut chart, fig, panel)?,
        Kind::Box => draw_boxes(&mut chart, fig, panel)?,
    }
    draw_probes(&mut chart, fig, panel)
}

/// A search's bound as a dashed line, and its probes' verdicts: a ring passed, a cross failed,
/// a square undecided.
fn draw_probes(chart: &mut Chart, fig: &Figure, panel: &Panel) -> Result<()> {
    let Some(index) = fig.panels.iter().position(|p| std::ptr::eq(p, panel)) else {
        return Ok(());
    };
    if let Some(b) = fig.bound {
        let xs = panel.cells.iter().map(|c| tx(fig, c.x));
        let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), x| {
            (l.min(x), h.max(x))
        });
        if lo.is_finite() && hi.is_finite() {
            chart
                .draw_series(DashedLineSeries::new(
                    [(lo, ty(fig, b)), (hi, ty(fig, b))],
                    6,
                    4,
                    BLACK.mix(0.7).stroke_width(1),
                ))
                .map_err(draw_err)?;
        }
    }
    let r = 7;
    for mark in fig.probe_marks.iter().filter(|m| m.panel == index) {
        let at = (tx(fig, mark.x), ty(fig, mark.y));
        let area = chart.plotting_area();
        let drawn = match mark.verdict.as_str() {
            "pass" => area.draw(
                &(EmptyElement::at(at)
                    + Circle::new((0, 0), r, RGBColor(0, 158, 115).stroke_width(2))),
            ),
            "fail" => {
                let style = RGBColor(213, 94, 0).stroke_width(2);
                area.draw(
                    &(EmptyElement::at(at)
                        + PathElement::new(vec![(-r, -r), (r, r)], style)
                        + PathElement::new(vec![(-r, r), (r, -r)], style)),
                )
            }
            _ => area.draw(
                &(EmptyElement::at(at)
                    + Rectangle::new([(-r, -r), (r, r)], RGBColor(120, 120, 120).stroke_width(2))),
            ),
        };
        drawn.map_err(draw_err)?;
    }
    Ok(())
}

fn series_cells(panel: &Panel, s: usize) -> Vec<&Cell> {
    panel.cells.iter().filter(|c| c.series == s).collect()
}

/// A vertical interval with caps `cap` pixels wide.
fn draw_interval(chart: &mut Chart, x: f64, lo: f64, hi: f64, colour: RGBColor) -> Result<()> {
    let style = colour.stroke_width(1);
    let cap = 4;
    let area = chart.plotting_area();
    area.draw(&PathElement::new(vec![(x, lo), (x, hi)], style))
        .map_err(draw_err)?;
    for y in [lo, hi] {
        area.draw(&(EmptyElement::at((x, y)) + PathElement::new(vec![(-cap, 0), (cap, 0)], style)))
            .map_err(draw_err)?;
    }
    Ok(())
}

/// Draws marker `shape` centred on `at`, in any coordinate system.
pub(crate) fn draw_marker<DB, CT>(
    area: &DrawingArea<DB, CT>,
    at: CT::From,
    shape: usize,
    colour: RGBColor,
) -> Result<()>
where
    DB: DrawingBackend,
    CT: CoordTranslate,
{
    let style = colour.filled();
    let r = 4;
    let result = match shape % SHAPES {
        0 => area.draw(&(EmptyElement::at(at) + Circle::new((0, 0), r, style))),
        1 => area.draw(&(EmptyElement::at(at) + Rectangle::new([(-r, -r), (r, r)], style))),
        2 => area.draw(
            &(EmptyElement::at(at)
                + Polygon::new(vec![(0, -r - 1), (r + 1, r), (-r - 1, r)], style)),
        ),
        3 => area.draw(
            &(EmptyElement::at(at)
                + Polygon::new(
                    vec![(0, -r - 1), (r + 1, 0), (0, r + 1), (-r - 1, 0)],
                    style,
                )),
        ),
        _ => area.draw(
            &(EmptyElement::at(at)
                + Polygon::new(vec![(0, r + 1), (r + 1, -r), (-r - 1, -r)], style)),
        ),
    };
    result.map_err(draw_err)
}

/// Whether a line's intervals are drawn as a band (here and in the report): a line of at least
/// 3 points, some of more than one run, that is not a search's brackets (each its own whisker).
pub fn banded(fig: &Figure, cells: &[&Cell]) -> bool {
    fig.choice.kind == Kind::Line
        && !fig.whiskers
        && cells.len() >= 3
        && cells.iter().any(|c| c.summary.n >= 2)
}

fn draw_lines(chart: &mut Chart, fig: &Figure, panel: &Panel) -> Result<()> {
    for s in 0..fig.series_labels.len() {
        let cells = series_cells(panel, s);
        if cells.is_empty() {
            continue;
        }
        let dense = cells.len() > MAX_LINE_POINTS;
        let binned = binned(&cells, MAX_LINE_POINTS);
        let cells: Vec<&Cell> = binned.iter().collect();
        let c = colour(s);
        let with_ci = cells.iter().any(|c| c.summary.n >= 2);
        if fig.whiskers {
            for cell in cells.iter().filter(|c| c.lo < c.hi) {
                draw_interval(
                    chart,
                    tx(fig, cell.x),
                    ty(fig, cell.lo),
                    ty(fig, cell.hi),
                    c,
                )?;
            }
        } else if banded(fig, &cells) {
            let mut band: Vec<(f64, f64)> = cells
                .iter()
                .map(|c| (tx(fig, c.x), ty(fig, c.hi)))
                .collect();
            band.extend(cells.iter().rev().map(|c| (tx(fig, c.x), ty(fig, c.lo))));
            chart
                .draw_series(std::iter::once(Polygon::new(band, c.mix(0.18).filled())))
                .map_err(draw_err)?;
        } else if with_ci {
            for cell in &cells {
                draw_interval(
                    chart,
                    tx(fig, cell.x),
                    ty(fig, cell.lo),
                    ty(fig, cell.hi),
                    c,
                )?;
            }
        }
        // A value a log axis has no place for (zero) is left out of the line.
        let placed = |c: &&&Cell| ty(fig, c.center).is_finite();
        chart
            .draw_series(LineSeries::new(
                cells
                    .iter()
                    .filter(placed)
                    .map(|c| (tx(fig, c.x), ty(fig, c.center))),
                c.stroke_width(2),
            ))
            .map_err(draw_err)?;
        // Markers identify the series (also in grey): on a dense line, a few suffice.
        let every = if dense { cells.len().div_ceil(12) } else { 1 };
        for cell in cells.iter().step_by(every).filter(placed) {
            draw_marker(
                chart.plotting_area(),
                (tx(fig, cell.x), ty(fig, cell.center)),
                s,
                c,
            )?;
        }
    }
    Ok(())
}

/// Left edge and width of each cell's bar (or box): the series present at an x position sit
/// side by side, centred on it, all as wide as in the fullest group.
fn slots(panel: &Panel) -> Vec<(f64, f64)> {
    let at = |x: f64| -> Vec<&Cell> { panel.cells.iter().filter(|c| c.x == x).collect() };
    let widest = panel.cells.iter().map(|c| at(c.x).len()).max().unwrap_or(1);
    let w = 0.8 / widest as f64;
    panel
        .cells
        .iter()
        .map(|c| {
            let mut group = at(c.x);
            group.sort_by_key(|g| g.series);
            let pos = group.iter().position(|g| g.series == c.series).unwrap_or(0);
            (c.x - group.len() as f64 * w / 2.0 + pos as f64 * w, w)
        })
        .collect()
}

fn draw_bars(chart: &mut Chart, fig: &Figure, panel: &Panel) -> Result<()> {
    // Bars grow from the bottom of the axis: zero, or its floor on a logarithmic one.
    let base = if fig.choice.log_y {
        y_range(fig).0
    } else {
        0.0
    };
    for (cell, (left, w)) in panel.cells.iter().zip(slots(panel)) {
        let c = colour(cell.series);
        let (l, r) = (left + 0.06 * w, left + 0.94 * w);
        if fig.whiskers {
            // A marker at the value, its bracket as a whisker: no bar of one value.
            draw_interval(chart, left + w / 2.0, ty(fig, cell.lo), ty(fig, cell.hi), c)?;
            let at = (left + w / 2.0, ty(fig, cell.center));
            draw_marker(chart.plotting_area(), at, cell.series, c)?;
            continue;
        }
        let area = chart.plotting_area();
        area.draw(&Rectangle::new(
            [(l, base), (r, ty(fig, cell.center))],
            c.mix(0.85).filled(),
        ))
        .map_err(draw_err)?;
        if cell.summary.n >= 2 {
            draw_interval(
                chart,
                left + w / 2.0,
                ty(fig, cell.lo),
                ty(fig, cell.hi),
                BLACK,
            )?;
        }
    }
    Ok(())
}

fn draw_boxes(chart: &mut Chart, fig: &Figure, panel: &Panel) -> Result<()> {
    for (cell, (left, w)) in panel.cells.iter().zip(slots(panel)) {
        let c = colour(cell.series);
        let (l, r, mid) = (left + 0.3 * w, left + 0.7 * w, left + w / 2.0);
        let s = cell.summary;
        let (wlo, whi, outliers) = s.whiskers(&cell.values);
        // Every figure in axis coordinates.
        let y = |v: f64| ty(fig, v);
        let (wlo, whi) = (y(wlo), y(whi));
        let s = crate::analyze::stats::Summary {
            q1: y(s.q1),
            q3: y(s.q3),
            median: y(s.median),
            mean: y(s.mean),
            ..s
        };
        let outliers: Vec<f64> = outliers.into_iter().map(y).collect();
        let area = chart.plotting_area();
        let stroke = c.stroke_width(2);
        area.draw(&PathElement::new(vec![(mid, wlo), (mid, s.q1)], stroke))
            .map_err(draw_err)?;
        area.draw(&PathElement::new(vec![(mid, s.q3), (mid, whi)], stroke))
            .map_err(draw_err)?;
        for y in [wlo, whi] {
            let q = (r - l) / 4.0;
            area.draw(&PathElement::new(vec![(mid - q, y), (mid + q, y)], stroke))
                .map_err(draw_err)?;
        }
        area.draw(&Rectangle::new(
            [(l, s.q1), (r, s.q3)],
            c.mix(0.25).filled(),
        ))
        .map_err(draw_err)?;
        area.draw(&Rectangle::new([(l, s.q1), (r, s.q3)], stroke))
            .map_err(draw_err)?;
        area.draw(&PathElement::new(
            vec![(l, s.median), (r, s.median)],
            c.stroke_width(3),
        ))
        .map_err(draw_err)?;
        for y in outliers {
            area.draw(&(EmptyElement::at((mid, y)) + Circle::new((0, 0), 3, c.stroke_width(1))))
                .map_err(draw_err)?;
        }
        draw_marker(area, (mid, s.mean), 3, BLACK)?;
    }
    Ok(())
}

/// The widths of the legend's title and of each series' entry (key, label and gap), as drawn.
fn legend_widths(fig: &Figure) -> Result<(String, i32, Vec<i32>)> {
    let style = font(LEGEND_FONT);
    // Measured on a scratch area: the same fonts as the figure's, before its size is known.
    let mut scratch = String::new();
    let area = SVGBackend::with_string(&mut scratch, (1, 1)).into_drawing_area();
    let text_w = |t: &str| -> Result<i32> {
        area.estimate_text_size(t, &style)
            .map(|(w, _)| w as i32)
            .map_err(draw_err)
    };
    let title = format!("{}:", fig.series_title.clone().unwrap_or_default());
    let title_w = text_w(&title)? + LEGEND_GAP;
    let entries = fig
        .series_labels
        .iter()
        .map(|l| Ok(LEGEND_KEY + text_w(l)? + LEGEND_GAP))
        .collect::<Result<Vec<i32>>>()?;
    Ok((title, title_w, entries))
}

/// The series of the legend in rows that fit `width` (the title starts the first): one row
/// when they fit, as many as they need when not, so that no entry is cut at the edge.
fn legend_rows(fig: &Figure, width: u32) -> Result<Vec<Vec<usize>>> {
    let (_, title_w, entries) = legend_widths(fig)?;
    let room = width as i32 - 16;
    let mut rows: Vec<Vec<usize>> = vec![Vec::new()];
    let mut used = title_w;
    for (s, w) in entries.iter().enumerate() {
        if used + w > room && rows.last().is_some_and(|r| !r.is_empty()) {
            rows.push(Vec::new());
            used = 0;
        }
        used += w;
        if let Some(r) = rows.last_mut() {
            r.push(s);
        }
    }
    Ok(rows)
}

/// The legend strip above the panels: `Title:  ● a  ■ b`, each row centred.
fn draw_legend(
    area: &DrawingArea<SVGBackend, Shift>,
    fig: &Figure,
    rows: &[Vec<usize>],
) -> Result<()> {
    let style = font(LEGEND_FONT);
    let (title, title_w, entries) = legend_widths(fig)?;
    let key = LEGEND_KEY;
    let w = area.dim_in_pixel().0;
    let anchored = style.pos(Pos::new(HPos::Left, VPos::Center));
    for (r, row) in rows.iter().enumerate() {
        let mut total: i32 = row.iter().map(|&s| entries[s]).sum();
        if r == 0 {
            total += title_w;
        }
        let y = LEGEND_HEIGHT as i32 / 2 + 2 + LEGEND_ROW as i32 * r as i32;
        let mut x = ((w as i32 - total) / 2).max(8);
        if r == 0 {
            area.draw(&Text::new(title.clone(), (x, y), anchored.clone()))
                .map_err(draw_err)?;
            x += title_w;
        }
        for &s in row {
            let (c, l) = (colour(s), &fig.series_labels[s]);
            match fig.choice.kind {
                Kind::Line => {
                    area.draw(&PathElement::new(
                        vec![(x, y), (x + key - 6, y)],
                        c.stroke_width(2),
                    ))
                    .map_err(draw_err)?;
                    draw_marker(area, (x + (key - 6) / 2, y), s, c)?;
                }
                Kind::Bars | Kind::Box => {
                    area.draw(&Rectangle::new(
                        [(x + 2, y - 7), (x + 16, y + 7)],
                        c.mix(0.85).filled(),
                    ))
                    .map_err(draw_err)?;
                }
            }
            area.draw(&Text::new(l.clone(), (x + key, y), anchored.clone()))
                .map_err(draw_err)?;
            x += entries[s];
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line graph of `lat` against `x` with one series per reader name given.
    fn series_figure(names: &[&str]) -> Figure {
        use crate::store::record::ResultInfo;
        use serde_json::json;
        let var = crate::report::plot::figure::tests::var;
        let mut m = crate::store::writer::tests::manifest("t");
        m.variables.push(var("x", vec![json!(1), json!(2)]));
        m.variables
            .push(var("reader", names.iter().map(|n| json!(n)).collect()));
        m.results.push(ResultInfo {
            name: "lat".into(),
            unit: String::new(),
            better: crate::model::Better::Lower,
            series: false,
        });
        let mut records = Vec::new();
        for x in 1..=2 {
            for n in names {
                let mut r = crate::store::writer::tests::record(records.len());
                r.point.insert("x".into(), json!(x));
                r.point.insert("reader".into(), json!(n));
                r.results.insert("lat".into(), json!(x));
                records.push(r);
            }
        }
        let set = crate::store::ResultSet {
            dir: "/nonexistent".into(),
            manifest: m,
            records,
        };
        let hints = crate::report::plot::PlotSpec {
            x: Some("x".into()),
            series: Some("reader".into()),
            ..Default::default()
        };
        let choice = crate::report::plot::figure::choose(&set, "lat", &hints).unwrap();
        crate::report::plot::figure::build(&set, &choice)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn a_legend_too_wide_for_one_row_takes_more_and_none_is_cut() {
        let names = [
            "show", "summary", "csv", "parquet", "plot", "report", "compare", "history",
        ];
        let fig = series_figure(&names);
        register_fonts().unwrap();
        let (_, title_w, entries) = legend_widths(&fig).unwrap();
        let rows = legend_rows(&fig, SINGLE.0).unwrap();
        assert!(rows.len() >= 2, "{rows:?}");
        assert_eq!(rows.concat(), (0..names.len()).collect::<Vec<_>>());
        for (r, row) in rows.iter().enumerate() {
            let w: i32 =
                row.iter().map(|&s| entries[s]).sum::<i32>() + if r == 0 { title_w } else { 0 };
            assert!(w <= SINGLE.0 as i32 - 16, "row {r} is {w} px wide");
        }
        let svg = to_svg(&fig).unwrap();
        for n in names {
            assert!(svg.contains(&format!(">\n{n}\n</text>")), "{n} is missing");
        }
        // A legend that fits stays one row, as before.
        let few = series_figure(&["a", "b"]);
        assert_eq!(legend_rows(&few, SINGLE.0).unwrap(), vec![vec![0, 1]]);
    }

    #[test]
    fn a_zero_on_a_log_axis_does_not_stretch_its_range() {
        let mut fig = series_figure(&["a", "b"]);
        fig.choice.log_y = true;
        let (lo, hi) = y_range(&fig);
        assert!(lo > -1.0 && hi < 1.0, "{lo} {hi}");
        fig.panels[0].cells[0].center = 0.0;
        fig.panels[0].cells[0].lo = 0.0;
        fig.panels[0].cells[0].summary.min = 0.0;
        let (lo0, hi0) = y_range(&fig);
        assert_eq!((lo0, hi0), (lo, hi));
        assert!(y_ticks(&fig, (lo0, hi0)).len() < 20);
    }

    #[test]
    fn a_short_log_axis_gets_round_ticks_in_value_not_one_at_its_middle() {
        let (lo, hi) = (13.5f64.log10(), 20.2f64.log10());
        let values: Vec<f64> = log_ticks(lo, hi).iter().map(|t| 10f64.powf(*t)).collect();
        assert!(values.len() >= 3, "{values:?}");
        for v in &values {
            assert!((v - v.round()).abs() < 1e-9, "{values:?}");
            assert!((13.5..=20.2).contains(v), "{values:?}");
        }
        // An axis of a decade keeps the 1-2-5 ladder.
        let wide: Vec<f64> = log_ticks(0.0, 1.0).iter().map(|t| 10f64.powf(*t)).collect();
        assert_eq!(wide.len(), 4, "{wide:?}");
        assert!((wide[1] - 2.0).abs() < 1e-9, "{wide:?}");
    }

    #[test]
    fn ticks_are_nice() {
        assert_eq!(
            nice_ticks(0.0, 100.0, 5),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(nice_ticks(3.0, 3.0, 5), vec![3.0]);
    }

    #[test]
    fn a_long_part_wraps_at_its_spaces() {
        let cond = "the largest rate where lat.p99 < 0.002 and loss < 0.1 and delivered >= 0.95 and sent >= 0.95 * rate * valid_time and dropped <= 0.001 * sent";
        let lines = wrap_caption(cond, 640);
        assert!(lines.len() >= 2, "{lines:?}");
        assert!(lines.iter().all(|l| l.chars().count() <= 80), "{lines:?}");
        assert_eq!(lines.join(" "), cond);
    }

    #[test]
    fn long_captions_wrap_at_their_separators() {
        assert_eq!(wrap_caption("a; b", 640), vec!["a; b"]);
        let long = "mean and 95% confidence interval of 3 runs per point; intervals cut at the smallest value; log y axis";
        let lines = wrap_caption(long, 640);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines.iter().all(|l| l.chars().count() <= 80));
    }

    #[test]
    fn a_percentage_at_100_is_drawn_from_0() {
        let (lo, hi) = linear_y_range(Kind::Line, 100.0, 100.0, true);
        assert_eq!(lo, 0.0);
        assert!((100.0..=110.0).contains(&hi), "{hi}");
        // Not a percentage: a constant value keeps its padded range around it.
        let (lo, hi) = linear_y_range(Kind::Line, 100.0, 100.0, false);
        assert!(lo > 80.0 && hi < 120.0, "{lo} {hi}");
        // A percentage that moves far from zero still starts there; a negative one does not.
        assert_eq!(linear_y_range(Kind::Line, 95.0, 99.0, true).0, 0.0);
        assert!(linear_y_range(Kind::Line, -5.0, 5.0, true).0 < -5.0);
    }

    #[test]
    fn grids_are_nearly_square() {
        assert_eq!(grid(1), (1, 1));
        assert_eq!(grid(2), (2, 1));
        assert_eq!(grid(4), (2, 2));
        assert_eq!(grid(5), (3, 2));
        assert_eq!(grid(10), (4, 3));
    }
}
