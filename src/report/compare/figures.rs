//! `mpf compare --html` draws BASE against NEW per point (SPEC §17): one figure per compared
//! result, the two sets as two series with the same marks and intervals as the sets' own PNGs
//! (a band along a numeric variable, error bars on bars), embedded as SVG so that the page
//! stays one offline file without scripts.

use crate::report::plot::figure::GraphSource;
use crate::report::plot::overlay;
use crate::report::plot::{build, choose, PlotSpec};
use crate::store::compact::CompactSet;

/// Most figures one page draws (one per result); the table lists every result.
pub(crate) const MAX_FIGURES: usize = 24;

/// A drawn figure: the result, its caption and the SVG.
pub(crate) struct Drawn {
    pub result: String,
    pub caption: String,
    pub svg: String,
}

/// The figures of `results` with `base` and `new` as series labelled `labels`, drawn from their
/// compact forms (what `mpf compare --html` and `mpf report --base` draw); a result that
/// cannot be drawn (no numeric value on either side) is left out.
pub(crate) fn draw_compact(
    base: &CompactSet,
    new: &CompactSet,
    labels: [String; 2],
    results: &[String],
) -> Vec<Drawn> {
    let hinted_x = PlotSpec::from_manifest(&base.manifest).and_then(|p| p.x);
    let merged = overlay::CompactOverlay::merge_unchecked(vec![base, new], &labels);
    draw_merged(&merged, &merged.variable, hinted_x, results)
}

/// The figures of `results` of merged sets, with `variable` (which set a run is of) as the
/// series and `hinted_x` as the x axis where the merged set has it.
fn draw_merged<S: GraphSource + ?Sized>(
    set: &S,
    variable: &str,
    hinted_x: Option<String>,
    results: &[String],
) -> Vec<Drawn> {
    let hints = PlotSpec {
        x: hinted_x.filter(|x| set.manifest().variables.iter().any(|v| &v.name == x)),
        series: Some(variable.to_string()),
        ..Default::default()
    };
    let mut out = Vec::new();
    for result in results.iter().take(MAX_FIGURES) {
        let Ok(choice) = choose(set, result, &hints) else {
            continue;
        };
        let Ok(Some(fig)) = build(set, &choice) else {
            continue;
        };
        let Ok(svg) = crate::report::plot::render::to_svg(&fig) else {
            continue;
        };
        out.push(Drawn {
            result: result.clone(),
            caption: fig.caption.clone(),
            svg,
        });
    }
    out
}
