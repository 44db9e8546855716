//! Text shared by every comparison writer: points with their labels, values with units,
//! changes, intervals, p-values, notes and the one-line summary.

use serde_json::{Map, Value};

use crate::analyze::compare::{Basis, Bound, Comparison, Counts, Entry, TestKind, Verdict};
use crate::analyze::stats::Summary;
use crate::units::{display_scale, format_number};

/// How a result set is named in reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SetLabel {
    pub id: String,
    /// The experiment's name.
    pub name: String,
}

/// A comparison with the names of the two sets: what every writer takes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CompareReport<'a> {
    pub comparison: &'a Comparison,
    pub base: &'a SetLabel,
    pub new: &'a SetLabel,
    /// The command that made the comparison (`mpf compare BASE NEW`), for the outputs that
    /// leave entries out to say how to get them all.
    pub command: &'a str,
}

/// Most entries (points × results) the HTML page lists one by one, as `mpf report` lists at
/// most 2000 runs: beyond, it lists what matters first and says what it left out (SPEC §15).
pub(crate) const LISTED_ENTRIES: usize = 2000;

/// What the first `listed` entries in display order (regressions, improvements, unchanged, no
/// data) hold: `all 3 regressions, the improvement and the first 1996 of the 9000 unchanged`.
pub(crate) fn listed_text(counts: &Counts, listed: usize) -> String {
    let groups = [
        (counts.regressions, "regression", "regressions"),
        (counts.improvements, "improvement", "improvements"),
        (counts.unchanged, "unchanged", "unchanged"),
        (counts.no_data, "entry without data", "entries without data"),
    ];
    let mut left = listed;
    let mut parts = Vec::new();
    for (n, one, many) in groups {
        if n == 0 || left == 0 {
            continue;
        }
        parts.push(if left >= n {
            match n {
                1 => format!("the {one}"),
                _ => format!("all {n} {many}"),
            }
        } else {
            format!("the first {left} of the {n} {many}")
        });
        left = left.saturating_sub(n);
    }
    match parts.split_last() {
        None => "none".into(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// `parallel=4, zerocopy=enabled` (see `store::point_text`).
pub(crate) fn point_text(c: &Comparison, point: &Map<String, Value>) -> String {
    crate::store::point_text(&c.variables, point)
}

/// Display labels of a point's variables by name (all of them, constants included).
pub(crate) fn point_labels(c: &Comparison, point: &Map<String, Value>) -> Map<String, Value> {
    c.variables
        .iter()
        .filter_map(|v| {
            let value = point.get(&v.name)?;
            let label = if value.is_null() {
                Value::Null
            } else {
                Value::String(v.label_of(value))
            };
            Some((v.name.clone(), label))
        })
        .collect()
}

/// The display divisor and unit for an entry: one scale for both sides, so they read alike.
fn entry_scale(c: &Comparison, e: &Entry) -> (f64, String) {
    let magnitude = [e.base, e.new]
        .iter()
        .flatten()
        .map(|s| s.mean.abs())
        .fold(0.0, f64::max);
    display_scale(&c.result_of(e).unit, magnitude)
}

/// `9.41 ± 0.012 Gbit/s (n=3)`; `no data` without runs.
pub(crate) fn sample_text(c: &Comparison, e: &Entry, s: Option<&Summary>) -> String {
    let Some(s) = s else {
        return "no data".into();
    };
    let (div, unit) = entry_scale(c, e);
    let unit = if unit.is_empty() {
        String::new()
    } else {
        format!(" {unit}")
    };
    if s.n < 2 {
        format!("{}{unit} (n=1)", format_number(s.mean / div))
    } else {
        format!(
            "{} ± {}{unit} (n={})",
            format_number(s.mean / div),
            two_digits(s.stddev / div),
            s.n
        )
    }
}

/// A spread with two significant digits: `0.0079`, `1.2`, `35`.
fn two_digits(x: f64) -> String {
    if !x.is_finite() || x == 0.0 {
        return format_number(x);
    }
    let digits = (1 - x.abs().log10().floor() as i32).max(0) as usize;
    let rounded = format!("{x:.digits$}");
    format_number(rounded.parse().unwrap_or(x))
}

/// A relative change as a signed percentage: `+3.2%`, `-0.41%`.
pub(crate) fn percent(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "+inf" } else { "-inf" }.into();
    }
    let pct = x * 100.0;
    let s = if pct.abs() >= 1.0 {
        format!("{pct:+.1}%")
    } else {
        format!("{pct:+.2}%")
    };
    // "-0.00%" reads as a change; a zero is a zero.
    if s.trim_start_matches(['+', '-'])
        .trim_matches(['0', '.', '%'])
        .is_empty()
    {
        "0%".into()
    } else {
        s
    }
}

pub(crate) fn change_text(e: &Entry) -> String {
    match e.change {
        None => "-".into(),
        Some(x) if x.is_infinite() => format!("{} (base mean 0)", percent(x)),
        Some(x) => percent(x),
    }
}

/// `[+1.2%, +5.4%]`, `unbounded`, or `-` when there is no interval (a single run).
pub(crate) fn ci_text(e: &Entry) -> String {
    match e.change_ci {
        None => "-".into(),
        Some((lo, hi)) if lo.is_infinite() && hi.is_infinite() => "unbounded".into(),
        Some((lo, hi)) => format!("[{}, {}]", percent(lo), percent(hi)),
    }
}

/// A p-value with two significant digits, in scientific notation below 1e-4.
pub(crate) fn p_text(p: f64) -> String {
    if p.is_nan() {
        "-".into()
    } else if p == 0.0 {
        "0".into()
    } else if p < 1e-4 {
        format!("{p:.1e}")
    } else if p < 0.01 {
        format!("{p:.4}")
    } else {
        format!("{p:.3}")
    }
}

pub(crate) fn p_raw_text(e: &Entry) -> String {
    e.test.map_or("-".into(), |t| p_text(t.p))
}

pub(crate) fn p_adjusted_text(e: &Entry) -> String {
    e.test.map_or("-".into(), |t| p_text(t.p_adjusted))
}

/// Why an entry got its verdict, when it is not plain from the figures; with reference sets,
/// always the between-set bound and whether it decided.
pub(crate) fn note(c: &Comparison, e: &Entry) -> String {
    let plain = plain_note(e);
    if c.references.is_empty() || e.verdict == Verdict::NoData {
        return plain;
    }
    let reference = reference_note(c, e);
    if plain.is_empty() {
        reference
    } else {
        format!("{plain}; {reference}")
    }
}

/// `between-set noise 3σ = 0.52 ms (5 sets): within, decided by it`, and its variants.
pub(crate) fn reference_note(c: &Comparison, e: &Entry) -> String {
    let Some(r) = e.reference else {
        return "no reference bound (fewer than two sets at this point)".into();
    };
    let (div, unit) = entry_scale(c, e);
    let unit = if unit.is_empty() {
        String::new()
    } else {
        format!(" {unit}")
    };
    let position = if r.exceeded { "beyond" } else { "within" };
    let decided = match e.decided_by {
        Some(Bound::References) => "it",
        Some(Bound::Tolerance) => "the tolerance",
        Some(Bound::Test) => "the test",
        None => "nothing",
    };
    format!(
        "between-set noise {}σ = {}{unit} ({} sets): {position}, decided by {decided}",
        format_number(c.settings.reference_sigmas),
        two_digits(r.bound / div),
        r.sets
    )
}

/// The note of an entry without reference sets.
fn plain_note(e: &Entry) -> String {
    match e.basis {
        Basis::None => match (e.base.is_some(), e.new.is_some()) {
            (false, false) => "no successful run in either set".into(),
            (false, true) => "no successful run in BASE".into(),
            _ => "no successful run in NEW".into(),
        },
        Basis::ToleranceOnly => "no test (n=1): tolerance only".into(),
        Basis::Test => match (e.verdict, e.significant, e.beyond_tolerance) {
            (Verdict::Unchanged, Some(true), false) => "significant, within tolerance".into(),
            (Verdict::Unchanged, Some(false), true) => "beyond tolerance, not significant".into(),
            _ => String::new(),
        },
    }
}

pub(crate) fn verdict_word(v: Verdict) -> &'static str {
    v.as_str()
}

/// `1 regression, 2 improvements, 5 unchanged`
pub(crate) fn counts_text(c: &Counts) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut parts = vec![
        plural(c.regressions, "regression", "regressions"),
        plural(c.improvements, "improvement", "improvements"),
        format!("{} unchanged", c.unchanged),
    ];
    if c.no_data > 0 {
        parts.push(format!("{} without data", c.no_data));
    }
    parts.join(", ")
}

/// The settings in one line: test, correction, alpha, tolerance, interval.
pub(crate) fn settings_text(c: &Comparison) -> String {
    let s = &c.settings;
    let test = match s.test {
        TestKind::Welch => "Welch's t-test",
        TestKind::Mwu => "Mann-Whitney U test",
    };
    let text = if c.tested == 0 {
        format!(
            "no significance test (no point has two runs on both sides): tolerance {} only",
            tolerance_text(s.tolerance)
        )
    } else {
        format!(
            "{test}, Holm-Bonferroni correction over {} test{} at alpha {}, tolerance {}, {} confidence intervals (Fieller)",
            c.tested,
            if c.tested == 1 { "" } else { "s" },
            format_number(s.alpha),
            tolerance_text(s.tolerance),
            confidence_text(c),
        )
    };
    match references_text(c) {
        Some(r) => format!("{text}, {r}"),
        None => text,
    }
}

/// `beyond 3 standard deviations of the per-set means of BASE and 4 reference sets`, or
/// `None` without reference sets.
pub(crate) fn references_text(c: &Comparison) -> Option<String> {
    let n = c.references.len();
    (n > 0).then(|| {
        format!(
            "beyond {} standard deviations of the per-set means of BASE and {n} reference set{}",
            format_number(c.settings.reference_sigmas),
            if n == 1 { "" } else { "s" }
        )
    })
}

pub(crate) fn tolerance_text(t: f64) -> String {
    format!("{}%", format_number(t * 100.0))
}

/// `95%`
pub(crate) fn confidence_text(c: &Comparison) -> String {
    format!("{}%", format_number(c.settings.confidence() * 100.0))
}

/// Column headers shared by the tables.
pub(crate) fn headers(c: &Comparison) -> [String; 10] {
    [
        "verdict".into(),
        "point".into(),
        "result".into(),
        "base".into(),
        "new".into(),
        "change".into(),
        format!("{} CI", confidence_text(c)),
        "p".into(),
        "p (Holm)".into(),
        "note".into(),
    ]
}

/// The cells of one entry, in the order of `headers`.
pub(crate) fn cells(c: &Comparison, e: &Entry) -> [String; 10] {
    let info = c.result_of(e);
    let result = if info.series {
        format!("{} (series)", info.name)
    } else {
        info.name.clone()
    };
    [
        verdict_word(e.verdict).into(),
        point_text(c, &c.point_of(e)),
        result,
        sample_text(c, e, e.base.as_ref()),
        sample_text(c, e, e.new.as_ref()),
        change_text(e),
        ci_text(e),
        p_raw_text(e),
        p_adjusted_text(e),
        note(c, e),
    ]
}

/// The verdict of the whole comparison in a few words.
pub(crate) fn headline(c: &Comparison) -> String {
    let n = c.counts().regressions;
    match n {
        0 => "no regression".into(),
        1 => "1 regression".into(),
        n => format!("{n} regressions"),
    }
}

/// `kernel of n1: Linux 6.1 -> Linux 6.8`, one line per difference of the environments.
pub(crate) fn environment_lines(c: &Comparison) -> Vec<String> {
    c.environment
        .differences
        .iter()
        .map(|d| format!("{}: {} -> {}", d.what, d.base, d.new))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_listed_is_said_group_by_group_in_display_order() {
        let counts = Counts {
            regressions: 3,
            improvements: 1,
            unchanged: 9000,
            no_data: 2,
        };
        assert_eq!(
            listed_text(&counts, 2000),
            "all 3 regressions, the improvement and the first 1996 of the 9000 unchanged"
        );
        assert_eq!(listed_text(&counts, 2), "the first 2 of the 3 regressions");
        assert_eq!(
            listed_text(&counts, 9006),
            "all 3 regressions, the improvement, all 9000 unchanged and all 2 entries without data"
        );
        assert_eq!(listed_text(&counts, 0), "none");
    }

    #[test]
    fn percentages_and_p_values() {
        assert_eq!(percent(0.0321), "+3.2%");
        assert_eq!(percent(-0.0041), "-0.41%");
        assert_eq!(percent(-0.00001), "0%");
        assert_eq!(percent(f64::INFINITY), "+inf");
        assert_eq!(p_text(0.0456), "0.046");
        assert_eq!(p_text(0.00123), "0.0012");
        assert_eq!(p_text(3.2e-7), "3.2e-7");
        assert_eq!(p_text(f64::NAN), "-");
        assert_eq!(tolerance_text(0.05), "5%");
        assert_eq!(two_digits(0.007902), "0.0079");
        assert_eq!(two_digits(0.1051), "0.11");
        assert_eq!(two_digits(3.456), "3.5");
        assert_eq!(two_digits(34.56), "35");
        assert_eq!(two_digits(345.6), "346");
    }
}
