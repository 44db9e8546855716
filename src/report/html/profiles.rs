//! The report's profiles (SPEC §18.1): each block of the switched variable, when it was
//! switched, its runs, and what the switch changed of the machines' facts.

use std::fmt::Write as _;

use crate::store::Manifest;
use crate::text::escape_html as esc;

/// The `Profiles` section; nothing for a set without blocks.
pub fn section(out: &mut String, m: &Manifest) {
    if m.blocks.is_empty() {
        return;
    }
    out.push_str("<h2>Profiles</h2>\n");
    out.push_str("<p class=\"note\">Runs ran in blocks of one value, the machines switched before each block and reverted after it; each block's facts were gathered after its switch. A resumed block appears again.</p>\n");
    out.push_str("<div class=\"scroll\"><table id=\"blocks\"><thead><tr><th>Block</th><th>Value</th><th>Switched at</th><th>Runs</th><th>Outcome</th></tr></thead><tbody>\n");
    for (i, b) in m.blocks.iter().enumerate() {
        let runs: usize = b
            .runs
            .iter()
            .map(|r| r[1].saturating_sub(r[0]).saturating_add(1))
            .sum();
        let outcome = match (&b.error, &b.reverted_at, &b.revert_error) {
            (Some(e), _, _) => format!("switch failed: {e}"),
            (None, _, Some(e)) => format!("revert failed: {e}"),
            (None, None, None) => "not reverted (stopped in the block)".to_string(),
            (None, Some(_), None) => "ok".to_string(),
        };
        let _ = writeln!(
            out,
            "<tr><td class=\"num\">{}</td><td>{} = {}</td><td>{}</td><td class=\"num\">{runs}</td><td><pre>{}</pre></td></tr>",
            i + 1,
            esc(&b.variable),
            esc(&b.label),
            esc(&b.switched_at),
            esc(&outcome)
        );
    }
    out.push_str("</tbody></table></div>\n");
    out.push_str("<h3>What each profile changed</h3>\n");
    for (b, changes) in crate::analyze::environment::block_changes(m) {
        let _ = write!(out, "<p>{} = {}: ", esc(&b.variable), esc(&b.label));
        if changes.is_empty() {
            out.push_str(
                "no recorded fact differs from the machines' before the first block.</p>\n",
            );
            continue;
        }
        out.push_str("</p>\n<ul>\n");
        for c in changes {
            let _ = writeln!(
                out,
                "<li>{}: {} &rarr; {}</li>",
                esc(&c.what),
                esc(&c.base),
                esc(&c.new)
            );
        }
        out.push_str("</ul>\n");
    }
}
