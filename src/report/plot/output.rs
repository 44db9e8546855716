//! Files: SVG as drawn, PNG and PDF rendered from that SVG with the bundled font, so that a
//! headless machine without any installed font draws the same picture.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::error::{Error, IoContext, Result};
use crate::report::plot::figure::{
    build, choose, main_result, numeric_results, Figure, GraphSource,
};
use crate::report::plot::provenance::Provenance;
use crate::report::plot::render::to_svg;
use crate::report::plot::spec::PlotSpec;

/// DejaVu Sans (Bitstream Vera licence, see assets/fonts/LICENSE-DejaVu.txt).
static FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// The family written into SVGs: the bundled font first, then whatever sans-serif a browser has.
pub const FONT_FAMILY: &str = "DejaVu Sans, sans-serif";

/// Makes the bundled font known to plotters, which measures text with it (once per process).
pub fn register_fonts() -> Result<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        [FONT_FAMILY, "sans-serif"].iter().all(|name| {
            plotters::style::register_font(name, plotters::style::FontStyle::Normal, FONT).is_ok()
        })
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Runtime(
            "the bundled font is not a valid font".into(),
        ))
    }
}

/// The output formats of a graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Svg,
    Png,
    Pdf,
}

impl Format {
    /// The format named by a file's extension.
    pub fn from_path(path: &Path) -> Result<Format> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("svg") => Ok(Format::Svg),
            Some("png") => Ok(Format::Png),
            Some("pdf") => Ok(Format::Pdf),
            _ => Err(Error::Usage(format!(
                "cannot tell the graph format of '{}': use a .svg, .png or .pdf file name",
                path.display()
            ))),
        }
    }
}

fn usvg_options() -> usvg::Options<'static> {
    let mut db = usvg::fontdb::Database::new();
    db.load_font_data(FONT.to_vec());
    db.set_sans_serif_family("DejaVu Sans");
    db.set_serif_family("DejaVu Sans");
    usvg::Options {
        font_family: "DejaVu Sans".into(),
        fontdb: Arc::new(db),
        ..usvg::Options::default()
    }
}

fn parse_svg(svg: &str) -> Result<usvg::Tree> {
    usvg::Tree::from_str(svg, &usvg_options())
        .map_err(|e| Error::Runtime(format!("failed to read the drawn svg: {e}")))
}

/// Renders an SVG document to PNG at `scale` times its size.
pub fn svg_to_png(svg: &str, scale: f32) -> Result<Vec<u8>> {
    let tree = parse_svg(svg)?;
    let size =
        tree.size().to_int_size().scale_by(scale).ok_or_else(|| {
            Error::Runtime("failed to render png: the graph has no size".to_string())
        })?;
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| Error::Runtime("failed to render png: no memory for the image".into()))?;
    pixmap.fill(resvg::tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    pixmap
        .encode_png()
        .map_err(|e| Error::Runtime(format!("failed to encode png: {e}")))
}

/// Converts an SVG document to a one-page PDF with the font embedded (as a subset), its
/// provenance in the Info dictionary and an XMP packet.
pub fn svg_to_pdf(svg: &str, provenance: &Provenance, title: &str) -> Result<Vec<u8>> {
    use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, TextStr};
    let fail = |e: String| Error::Runtime(format!("failed to convert the graph to pdf: {e}"));
    let tree = parse_svg(svg)?;
    let (chunk, svg_ref) = svg2pdf::to_chunk(&tree, svg2pdf::ConversionOptions::default())
        .map_err(|e| fail(e.to_string()))?;
    // The graph's own objects first, renumbered after the document's.
    let mut next = 1;
    let mut alloc = || {
        let r = Ref::new(next);
        next += 1;
        r
    };
    let (catalog, pages, page, content, info, xmp) =
        (alloc(), alloc(), alloc(), alloc(), alloc(), alloc());
    let mut map = std::collections::HashMap::new();
    let chunk = chunk.renumber(|old| *map.entry(old).or_insert_with(&mut alloc));
    let svg_ref = *map
        .get(&svg_ref)
        .ok_or_else(|| fail("lost the graph".into()))?;
    // 72 points an inch and 96 CSS pixels: the page has the size a browser gives the SVG.
    let (w, h) = (tree.size().width() * 0.75, tree.size().height() * 0.75);
    let xmp_text = provenance.xmp(title);
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(pages).metadata(xmp);
    pdf.pages(pages).kids([page]).count(1);
    let mut pg = pdf.page(page);
    pg.media_box(Rect::new(0.0, 0.0, w, h));
    pg.parent(pages);
    pg.contents(content);
    pg.resources().x_objects().pair(Name(b"G"), svg_ref);
    pg.finish();
    let mut c = Content::new();
    c.transform([w, 0.0, 0.0, h, 0.0, 0.0]).x_object(Name(b"G"));
    pdf.stream(content, &c.finish());
    pdf.extend(&chunk);
    let mut doc = pdf.document_info(info);
    doc.title(TextStr(title))
        .subject(TextStr(&format!("mpf result set {}", provenance.set_id)))
        .creator(TextStr(&format!("mpf {}", provenance.mpf_version)))
        .producer(TextStr("mpf (svg2pdf)"));
    let keywords: Vec<String> = provenance
        .fields()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    doc.keywords(TextStr(&keywords.join("; ")));
    for (k, v) in provenance.fields() {
        // `mpf:experiment-sha256` -> `MpfExperimentSha256`
        let key: String = std::iter::once("mpf")
            .chain(k[4..].split('-'))
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect();
        doc.pair(Name(key.as_bytes()), TextStr(&v));
    }
    doc.finish();
    pdf.metadata(xmp, xmp_text.as_bytes());
    Ok(pdf.finish())
}

/// Encodes a drawn figure in `format`, with its provenance in the file's metadata.
pub fn encode(fig: &Figure, format: Format) -> Result<Vec<u8>> {
    encode_svg(to_svg(fig)?, &fig.provenance, &fig.y_title, format)
}

/// Encodes a drawn SVG in `format`, with `provenance` in the file's metadata and `title` as
/// the PDF's title.
pub fn encode_svg(
    svg: String,
    provenance: &Provenance,
    title: &str,
    format: Format,
) -> Result<Vec<u8>> {
    let svg = provenance.into_svg(svg);
    match format {
        Format::Svg => Ok(svg.into_bytes()),
        Format::Png => Ok(provenance.into_png(svg_to_png(&svg, 2.0)?)),
        Format::Pdf => svg_to_pdf(&svg, provenance, title),
    }
}

/// The longest file stem made of a name, in bytes, before its hash: with the hash, a
/// `run-NNNN-` prefix and the extension, a file name stays far under the 255 bytes a file
/// system allows, whatever the name.
pub const MAX_STEM_BYTES: usize = 100;

/// A file name for a result or metric. A name that is a safe file name as it is
/// (`client.duration`, `débit`) stays; any other (path separators, `?`, an emoji, more than
/// `MAX_STEM_BYTES`) becomes its safe characters, cut to `MAX_STEM_BYTES`, then `-` and a hash
/// of the whole name: `a|b` and `a/b` are `a_b-05478f76` and `a_b-0468cf61`, never one file.
pub fn file_stem(name: &str) -> String {
    let mut stem = String::with_capacity(name.len().min(MAX_STEM_BYTES));
    for c in name.chars() {
        if stem.len() + c.len_utf8() > MAX_STEM_BYTES {
            break;
        }
        // A leading dot would hide the file (and `..` is no name).
        let safe = c.is_alphanumeric() || matches!(c, '-' | '_') || (c == '.' && !stem.is_empty());
        stem.push(if safe { c } else { '_' });
    }
    if stem == name && !stem.is_empty() {
        return stem;
    }
    format!("{stem}-{:08x}", crate::plan::fnv1a(name.as_bytes()) as u32)
}

/// Written whole or not at all: a signal while drawing never leaves half a graph.
pub(crate) fn write(path: &Path, data: &[u8]) -> Result<()> {
    crate::store::writer::write_atomic(path, data)
}

/// The figures of every numeric result, in manifest order, then the limits of a search (from
/// a source that holds the records: see [`super::figure::needs_records`]). Results without a
/// value in any successful run get no figure.
pub fn figures<S: GraphSource + ?Sized>(set: &S, hints: Option<&PlotSpec>) -> Result<Vec<Figure>> {
    let hints = hints.cloned().unwrap_or_default();
    let mut out = Vec::new();
    let durations = hints.durations == Some(true);
    for result in numeric_results(set) {
        if crate::model::is_duration(&result) && !durations {
            continue;
        }
        if hints.results.as_ref().is_some_and(|r| !r.contains(&result)) {
            continue;
        }
        let choice = choose(set, &result, &hints)?;
        if let Some(mut fig) = build(set, &choice)? {
            if let Some(full) = set.records() {
                super::limits::mark_probes(full, &mut fig);
            }
            out.push(fig);
        }
    }
    if let Some(full) = set.records() {
        out.extend(super::limits::limit_figure(full)?);
    }
    Ok(out)
}

/// A set as its graphs read it: in compact form, or whole when they need its records
/// ([`super::figure::needs_records`]).
pub enum Graphed {
    Compact(crate::store::compact::CompactSet),
    Whole(crate::store::ResultSet),
}

impl Graphed {
    /// Loads the set in `dir`: its compact form, then its records only if its graphs need them
    /// (SPEC §15: a set of 10^5 points is drawn without holding its records).
    pub fn load(dir: &Path) -> Result<Graphed> {
        let set = crate::store::compact::CompactSet::load(dir)?;
        if !super::figure::needs_records(&set.manifest) {
            return Ok(Graphed::Compact(set));
        }
        drop(set);
        Ok(Graphed::Whole(crate::store::ResultSet::load(dir)?))
    }

    pub fn source(&self) -> &dyn GraphSource {
        match self {
            Graphed::Compact(c) => c,
            Graphed::Whole(w) => w,
        }
    }

    pub fn dir(&self) -> &Path {
        match self {
            Graphed::Compact(c) => &c.dir,
            Graphed::Whole(w) => &w.dir,
        }
    }
}

/// `plot_all` of the set in `dir` into its `plots/`, with the hints its manifest recorded:
/// what `mpf run` draws at its end.
pub fn plot_set(dir: &Path) -> Result<Plotted> {
    let set = Graphed::load(dir)?;
    let hints = PlotSpec::from_manifest(set.source().manifest());
    plot_all(set.source(), &dir.join("plots"), hints.as_ref())
}

/// What `plot_all` drew, and the graphs it could not draw.
#[derive(Debug, Default)]
pub struct Plotted {
    /// Every file written.
    pub written: Vec<PathBuf>,
    /// Graphs drawn (each an SVG and a PNG).
    pub drawn: usize,
    /// `result: why` for each graph that failed; the others are drawn all the same.
    pub failed: Vec<String>,
}

impl Plotted {
    /// `2 of 5 graphs not drawn: a: ...; b: ...`, when some failed.
    pub fn failures(&self) -> Option<String> {
        (!self.failed.is_empty()).then(|| {
            format!(
                "{} of {} graphs not drawn: {}",
                self.failed.len(),
                self.failed.len() + self.drawn,
                self.failed.join("; ")
            )
        })
    }
}

/// The file stem of each figure: its result's (`file_stem`), `<variable>_limit` for the limit
/// graph of a search, and `-2`, `-3` after a stem another figure took first.
fn figure_stems<S: GraphSource + ?Sized>(set: &S, figs: &[Figure]) -> Vec<String> {
    let limit = set
        .manifest()
        .search
        .as_ref()
        .map(|s| (super::limits::limit_result(&s.variable), &s.variable));
    let mut taken = std::collections::HashSet::new();
    figs.iter()
        .map(|fig| {
            let stem = match &limit {
                Some((name, var)) if *name == fig.choice.result => {
                    file_stem(&format!("{var}_limit"))
                }
                _ => file_stem(&fig.choice.result),
            };
            let mut unique = stem.clone();
            let mut n = 1;
            while !taken.insert(unique.clone()) {
                n += 1;
                unique = format!("{stem}-{n}");
            }
            unique
        })
        .collect()
}

/// Draws one graph per numeric result into `out_dir` as `<stem>.svg` and `<stem>.png` (what
/// `mpf run` does at its end, and `mpf plot ID` without `-o`), the stem from `file_stem`. A
/// graph that fails to draw or write is counted in `failed`, and the others are drawn.
pub fn plot_all<S: GraphSource + ?Sized>(
    set: &S,
    out_dir: &Path,
    hints: Option<&PlotSpec>,
) -> Result<Plotted> {
    std::fs::create_dir_all(out_dir).ctx(|| format!("failed to create {}", out_dir.display()))?;
    let figs = figures(set, hints)?;
    let stems = figure_stems(set, &figs);
    let mut out = Plotted::default();
    let draw = |stem: &str, encode: &dyn Fn(Format) -> Result<Vec<u8>>| -> Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        for (format, ext) in [(Format::Svg, "svg"), (Format::Png, "png")] {
            let path = out_dir.join(format!("{stem}.{ext}"));
            write(&path, &encode(format)?)?;
            files.push(path);
        }
        Ok(files)
    };
    let record = |r: Result<Vec<PathBuf>>, what: &str, out: &mut Plotted| match r {
        Ok(files) => {
            out.written.extend(files);
            out.drawn += 1;
        }
        Err(e) => out.failed.push(format!("{what:?}: {e}")),
    };
    // The figures `plot:` lists first (SPEC §17), named so as not to take a result's file.
    let mut taken: std::collections::HashSet<String> = stems.iter().cloned().collect();
    let made = set.records().map(super::kinds::made).unwrap_or_default();
    for made in made {
        match made {
            Ok(m) => {
                let base = super::kinds::figure_stem(&m.name);
                let mut stem = base.clone();
                let mut n = 1;
                while !taken.insert(stem.clone()) {
                    n += 1;
                    stem = format!(
                        "{base}-figure{}",
                        if n == 2 { String::new() } else { n.to_string() }
                    );
                }
                let r = draw(&stem, &|f| super::kinds::encode(&m.drawing, f));
                record(r, &m.name, &mut out);
            }
            Err(e) => out.failed.push(e),
        }
    }
    for (fig, stem) in figs.iter().zip(stems) {
        let r = draw(&stem, &|f| encode(fig, f));
        record(r, &fig.choice.result, &mut out);
    }
    Ok(out)
}

pub fn plot_one<S: GraphSource + ?Sized>(set: &S, path: &Path, hints: &PlotSpec) -> Result<Figure> {
    let format = Format::from_path(path)?;
    let result = main_result(set, hints)?;
    let choice = choose(set, &result, hints)?;
    let fig = build(set, &choice)?.ok_or_else(|| {
        Error::Runtime(format!(
            "no successful run of {} has a value of '{result}'",
            set.manifest().id
        ))
    })?;
    write(path, &encode(&fig, format)?)?;
    Ok(fig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_stems_keep_safe_names_and_never_share_a_file() {
        assert_eq!(file_stem("client.duration"), "client.duration");
        assert_eq!(file_stem("débit"), "débit");
        let names = ["a|b", "a/b", "a_b", "😀rps", "?rps", "_rps", "..", ".x", ""];
        let stems: std::collections::HashSet<String> = names.iter().map(|n| file_stem(n)).collect();
        assert_eq!(stems.len(), names.len(), "{stems:?}");
        assert!(file_stem("a|b").starts_with("a_b-"));
        assert!(!file_stem("..").starts_with(".."));
        assert!(stems.iter().all(|s| !s.contains('/') && !s.is_empty()));
    }

    #[test]
    fn long_names_are_cut_and_stay_distinct() {
        let a = "é".repeat(300);
        let b = format!("{}x", "é".repeat(299));
        let (sa, sb) = (file_stem(&a), file_stem(&b));
        assert_ne!(sa, sb);
        for s in [&sa, &sb] {
            assert!(s.len() <= MAX_STEM_BYTES + 9, "{} bytes", s.len());
            assert!(s.starts_with(&"é".repeat(50)));
        }
    }
}
