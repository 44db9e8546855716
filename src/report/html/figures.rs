//! The report's Figures section: the figures the experiment's `plot:` lists (SPEC §17), drawn
//! as the SVGs `mpf plot` writes and shown before the per-result graphs.

use std::fmt::Write;

use crate::report::plot::kinds::{self, Drawing};
use crate::report::plot::{chart, render};
use crate::store::ResultSet;

use crate::text::escape_html as esc;

/// The section's HTML; empty when `plot:` lists no figure.
pub fn section(set: &ResultSet) -> String {
    let made = kinds::made(set);
    if made.is_empty() {
        return String::new();
    }
    let mut out = String::from("<h2>Figures</h2>\n");
    for m in made {
        let drawn = m.and_then(|m| {
            let svg = match &m.drawing {
                Drawing::Graph(g) => render::to_svg(g),
                Drawing::Chart(c) => chart::to_svg(c),
            };
            match svg {
                Ok(s) => Ok((m.name, s)),
                Err(e) => Err(format!("{:?}: {e}", m.name)),
            }
        });
        match drawn {
            Ok((name, svg)) => {
                let _ = writeln!(
                    out,
                    "<h3>{}</h3>\n<div class=\"mpf-figure\">{}</div>",
                    esc(&name),
                    strip_prolog(&svg)
                );
            }
            Err(e) => {
                let _ = writeln!(out, "<p class=\"note\">not drawn: {}</p>", esc(&e));
            }
        }
    }
    out
}

/// The SVG element without an XML declaration (not allowed inside HTML).
fn strip_prolog(svg: &str) -> &str {
    match (svg.starts_with("<?xml"), svg.find("?>")) {
        (true, Some(i)) => svg[i + 2..].trim_start(),
        _ => svg,
    }
}
