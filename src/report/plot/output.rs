//! Files: SVG as drawn, PNG and PDF rendered from that SVG with the bundled font, so that a
//! headless machine without any installed font draws the same picture.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::error::{Error, IoContext, Result};
use crate::report::plot::figure::{build, choose, main_result, numeric_results, Figure};
use crate::report::plot::provenance::Provenance;
use crate::report::plot::render::to_svg;
use crate::report::plot::spec::PlotSpec;
use crate::store::ResultSet;

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

/// A file name for a result: `client.duration` stays, path separators and oddities do not.
pub fn file_stem(result: &str) -> String {
    result
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Written whole or not at all: a signal while drawing never leaves half a graph.
pub(crate) fn write(path: &Path, data: &[u8]) -> Result<()> {
    crate::store::writer::write_atomic(path, data)
}

/// The figures of every numeric result, in manifest order, then the limits of a search.
/// Results without a value in any successful run get no figure.
pub fn figures(set: &ResultSet, hints: Option<&PlotSpec>) -> Result<Vec<Figure>> {
    let hints = hints.cloned().unwrap_or_default();
    let mut out = Vec::new();
    let durations = hints.durations == Some(true);
    for result in numeric_results(set) {
        if crate::model::is_duration(&result) && !durations {
            continue;
        }
        let choice = choose(set, &result, &hints)?;
        if let Some(fig) = build(set, &choice)? {
            out.push(fig);
        }
    }
    out.extend(super::limits::limit_figure(set)?);
    Ok(out)
}

/// Draws one graph per numeric result into `out_dir` as `<result>.svg` and `<result>.png`
/// (what `mpf run` does at its end, and `mpf plot ID` without `-o`). Returns the files written.
pub fn plot_all(set: &ResultSet, out_dir: &Path, hints: Option<&PlotSpec>) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out_dir).ctx(|| format!("failed to create {}", out_dir.display()))?;
    let mut written = Vec::new();
    for fig in figures(set, hints)? {
        let stem = file_stem(&fig.choice.result);
        for format in [Format::Svg, Format::Png] {
            let path = out_dir.join(format!(
                "{stem}.{}",
                if format == Format::Svg { "svg" } else { "png" }
            ));
            write(&path, &encode(&fig, format)?)?;
            written.push(path);
        }
    }
    Ok(written)
}

/// Draws a single graph into `path`, its format taken from the extension. The result is
/// `hints.y`, else the main result (the first that is not a step's wall time).
pub fn plot_one(set: &ResultSet, path: &Path, hints: &PlotSpec) -> Result<Figure> {
    let format = Format::from_path(path)?;
    let result = main_result(set, hints)?;
    let choice = choose(set, &result, hints)?;
    let fig = build(set, &choice)?.ok_or_else(|| {
        Error::Runtime(format!(
            "no successful run of {} has a value of '{result}'",
            set.manifest.id
        ))
    })?;
    write(path, &encode(&fig, format)?)?;
    Ok(fig)
}
