//! JUnit XML: one test suite, one test case per point and result. A regression is a failure;
//! improvements and unchanged results pass; a result without data on a side is skipped.

use std::fmt::Write;

use crate::analyze::compare::{Entry, Verdict};
use crate::report::compare::common::{self, CompareReport};

/// Escapes text for XML attributes and content; drops characters XML 1.0 cannot hold.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(ch),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Every figure of an entry, one per line, for the body of a failure or the test's output.
fn details(r: &CompareReport, e: &Entry) -> String {
    let c = r.comparison;
    let mut s = String::new();
    let info = c.result_of(e);
    let _ = writeln!(s, "point: {}", common::point_text(c, &c.point_of(e)));
    let _ = writeln!(s, "result: {} ({})", info.name, info.unit);
    let _ = writeln!(s, "base: {}", common::sample_text(c, e, e.base.as_ref()));
    let _ = writeln!(s, "new: {}", common::sample_text(c, e, e.new.as_ref()));
    let _ = writeln!(
        s,
        "change: {} {} CI {}",
        common::change_text(e),
        common::confidence_text(c),
        common::ci_text(e)
    );
    if let Some(t) = e.test {
        let _ = writeln!(
            s,
            "p: {}, Holm-adjusted: {} (alpha {})",
            common::p_text(t.p),
            common::p_text(t.p_adjusted),
            c.settings.alpha
        );
    }
    let _ = writeln!(
        s,
        "tolerance: {}",
        common::tolerance_text(c.settings.tolerance)
    );
    if !c.references.is_empty() {
        let _ = writeln!(s, "reference bound: {}", common::reference_note(c, e));
    }
    let note = common::note(c, e);
    if !note.is_empty() {
        let _ = writeln!(s, "note: {note}");
    }
    s
}

/// Writes the report to `out` as it is made: one test case per entry, whatever their number
/// (10^5 points are tens of megabytes of XML, never held whole, SPEC §15).
pub(crate) fn write(r: CompareReport, out: &mut dyn Write) {
    let c = r.comparison;
    let counts = c.counts();
    let tests = c.entries.len();
    let suite = format!("mpf compare {} vs {}", r.base.id, r.new.id);
    let classname = format!("mpf.compare.{}", r.base.name);
    let _ = writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let totals = format!(
        r#"tests="{tests}" failures="{}" errors="0" skipped="{}" time="0""#,
        counts.regressions, counts.no_data
    );
    let _ = writeln!(out, r#"<testsuites name="mpf compare" {totals}>"#);
    let _ = writeln!(out, r#"  <testsuite name="{}" {totals}>"#, escape(&suite));
    let _ = writeln!(out, "    <properties>");
    let settings = &c.settings;
    let mut properties = vec![
        ("base", r.base.id.clone()),
        ("new", r.new.id.clone()),
        ("test", format!("{:?}", settings.test).to_lowercase()),
        ("correction", "holm".to_string()),
        ("alpha", settings.alpha.to_string()),
        ("tolerance", settings.tolerance.to_string()),
    ];
    if !c.references.is_empty() {
        properties.push(("references", c.references.join(" ")));
        properties.push(("reference_sigmas", settings.reference_sigmas.to_string()));
    }
    for (k, v) in properties {
        let _ = writeln!(
            out,
            r#"      <property name="{k}" value="{}"/>"#,
            escape(&v)
        );
    }
    let _ = writeln!(out, "    </properties>");
    for e in &c.entries {
        let result = &c.result_of(e).name;
        let name = format!("{result} @ {}", common::point_text(c, &c.point_of(e)));
        let _ = write!(
            out,
            r#"    <testcase classname="{}" name="{}" time="0""#,
            escape(&classname),
            escape(&name)
        );
        let body = escape(&details(&r, e));
        match e.verdict {
            Verdict::Regression => {
                let message = format!(
                    "{} regressed by {} (tolerance {}), p (Holm) {}",
                    result,
                    common::change_text(e),
                    common::tolerance_text(settings.tolerance),
                    common::p_adjusted_text(e)
                );
                let _ = writeln!(out, ">");
                let _ = writeln!(
                    out,
                    r#"      <failure type="regression" message="{}">{body}</failure>"#,
                    escape(&message)
                );
                let _ = writeln!(out, "    </testcase>");
            }
            Verdict::NoData => {
                let _ = writeln!(out, ">");
                let _ = writeln!(
                    out,
                    r#"      <skipped message="{}"/>"#,
                    escape(&common::note(c, e))
                );
                let _ = writeln!(out, "    </testcase>");
            }
            Verdict::Improvement | Verdict::Unchanged => {
                let _ = writeln!(out, ">");
                let _ = writeln!(
                    out,
                    "      <system-out>{}: {body}</system-out>",
                    e.verdict.as_str()
                );
                let _ = writeln!(out, "    </testcase>");
            }
        }
    }
    // What is not a test case, in the suite's output, escaped a line at a time.
    let has_extra = !c.base_only.is_empty()
        || !c.new_only.is_empty()
        || !c.notes.is_empty()
        || !c.environment.is_empty();
    if has_extra {
        let _ = write!(out, "    <system-out>");
        for (side, points) in [("BASE", &c.base_only), ("NEW", &c.new_only)] {
            for p in points {
                let line = format!(
                    "only in {side} (not compared): {}\n",
                    common::point_text(c, p)
                );
                let _ = write!(out, "{}", escape(&line));
            }
        }
        for n in &c.notes {
            let _ = write!(out, "{}", escape(&format!("note: {n}\n")));
        }
        for l in common::environment_lines(c) {
            let _ = write!(out, "{}", escape(&format!("environment differs: {l}\n")));
        }
        if let Some(d) = &c.environment.experiment_diff {
            let _ = write!(
                out,
                "{}",
                escape(&format!("experiment file differs:\n{d}\n"))
            );
        }
        let _ = writeln!(out, "</system-out>");
    }
    let _ = writeln!(out, "  </testsuite>");
    let _ = writeln!(out, "</testsuites>");
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(
            escape("a<b & \"c\" 'd'>\u{1}\n"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;\n"
        );
    }
}
