//! Figures that say where they come from (SPEC §12.5): every graph carries the result-set id,
//! the experiment's name and the sha256 of its file, the mpf version and the synced commits, in
//! the SVG's `<metadata>`, PNG text chunks, and the PDF's Info dictionary and XMP packet. A
//! figure pasted into a paper can then be traced back to its data.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::store::ResultSet;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Provenance {
    pub set_id: String,
    pub experiment: String,
    /// sha256 of the set's `experiment.yaml`, hex; empty when the file cannot be read.
    pub experiment_sha256: String,
    pub mpf_version: String,
    /// `path@commit` of every synced directory (`+dirty` when it had local changes).
    pub synced: Vec<String>,
}

impl Provenance {
    pub fn of(set: &ResultSet) -> Provenance {
        Provenance::of_set(&set.dir, &set.manifest)
    }

    /// The provenance of the set in `dir` with this manifest.
    pub fn of_set(dir: &std::path::Path, m: &crate::store::record::Manifest) -> Provenance {
        let experiment_sha256 = std::fs::read(dir.join(crate::store::layout::EXPERIMENT))
            .map(|b| hex(&Sha256::digest(&b)))
            .unwrap_or_default();
        let synced = m
            .synced
            .iter()
            .map(|s| match &s.git {
                Some(g) => format!(
                    "{}@{}{}",
                    s.from,
                    g.commit,
                    if g.dirty { "+dirty" } else { "" }
                ),
                None => s.from.clone(),
            })
            .collect();
        Provenance {
            set_id: m.id.clone(),
            experiment: m.name.clone(),
            experiment_sha256,
            mpf_version: m.mpf_version.clone(),
            synced,
        }
    }

    /// The fields as (key, value) pairs, in a fixed order.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("mpf:set", self.set_id.clone()),
            ("mpf:experiment", self.experiment.clone()),
            ("mpf:experiment-sha256", self.experiment_sha256.clone()),
            ("mpf:version", self.mpf_version.clone()),
            ("mpf:synced", self.synced.join(" ")),
        ]
    }

    /// The SVG with a `<metadata>` element right after its root element's start tag.
    pub fn into_svg(&self, svg: String) -> String {
        let Some(open) = svg.find("<svg") else {
            return svg;
        };
        let Some(end) = svg[open..].find('>').map(|i| open + i + 1) else {
            return svg;
        };
        let attrs: String = self
            .fields()
            .iter()
            .map(|(k, v)| format!(" {}=\"{}\"", &k[4..], xml_escape(v)))
            .collect();
        let meta = format!(
            "\n<metadata id=\"mpf-provenance\"><mpf:provenance xmlns:mpf=\"urn:mpf:provenance\"{attrs}/></metadata>"
        );
        let mut out = String::with_capacity(svg.len() + meta.len());
        out.push_str(&svg[..end]);
        out.push_str(&meta);
        out.push_str(&svg[end..]);
        out
    }

    /// The PNG with one text chunk per field (tEXt, or iTXt for text beyond Latin-1), placed
    /// right after the header chunk.
    pub fn into_png(&self, png: Vec<u8>) -> Vec<u8> {
        // Signature (8 bytes) and IHDR (4 length + 4 type + 13 data + 4 crc).
        const AFTER_IHDR: usize = 8 + 25;
        if png.len() < AFTER_IHDR || &png[12..16] != b"IHDR" {
            return png;
        }
        let mut out = Vec::with_capacity(png.len() + 512);
        out.extend_from_slice(&png[..AFTER_IHDR]);
        let mut fields = self.fields();
        fields.push(("Software", format!("mpf {}", self.mpf_version)));
        for (k, v) in fields {
            let (kind, data) = if v.is_ascii() {
                (*b"tEXt", [k.as_bytes(), b"\0", v.as_bytes()].concat())
            } else {
                // keyword, 0, compression flag and method, empty language and translated key.
                (
                    *b"iTXt",
                    [k.as_bytes(), b"\0\0\0\0\0", v.as_bytes()].concat(),
                )
            };
            push_chunk(&mut out, &kind, &data);
        }
        out.extend_from_slice(&png[AFTER_IHDR..]);
        out
    }

    /// An XMP packet with the fields (Dublin Core title and source, and mpf's own namespace).
    pub fn xmp(&self, title: &str) -> String {
        let own: String = self
            .fields()
            .iter()
            .map(|(k, v)| format!("<{k}>{}</{k}>", xml_escape(v)))
            .collect();
        format!(
            "<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\
<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\
<rdf:Description rdf:about=\"\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\" xmlns:mpf=\"urn:mpf:provenance\">\
<dc:title><rdf:Alt><rdf:li xml:lang=\"x-default\">{}</rdf:li></rdf:Alt></dc:title>\
<dc:source>mpf result set {}</dc:source><xmp:CreatorTool>mpf {}</xmp:CreatorTool>{own}\
</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end=\"r\"?>",
            xml_escape(title),
            xml_escape(&self.set_id),
            xml_escape(&self.mpf_version)
        )
    }
}

fn push_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn xml_escape(s: &str) -> String {
    crate::text::escape_html(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Provenance {
        Provenance {
            set_id: "iperf-20261125T100000Z-ab12".into(),
            experiment: "iperf <&>".into(),
            experiment_sha256: "ab".repeat(32),
            mpf_version: "0.1.0".into(),
            synced: vec!["src@0123abcd+dirty".into()],
        }
    }

    #[test]
    fn svg_metadata_follows_the_root_tag() {
        let svg = p()
            .into_svg("<svg width=\"1\" xmlns=\"http://www.w3.org/2000/svg\"><rect/></svg>".into());
        assert!(
            svg.starts_with("<svg width=\"1\" xmlns=\"http://www.w3.org/2000/svg\">\n<metadata")
        );
        assert!(svg.contains("set=\"iperf-20261125T100000Z-ab12\""));
        assert!(svg.contains("experiment=\"iperf &lt;&amp;&gt;\""));
        assert!(svg.ends_with("<rect/></svg>"));
    }

    #[test]
    fn png_chunks_are_well_formed() {
        // The smallest PNG: signature, IHDR of a 1x1 grey image, IDAT, IEND.
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        push_chunk(&mut png, b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
        push_chunk(&mut png, b"IEND", &[]);
        let out = p().into_png(png.clone());
        // Walk the chunks: every length and crc must hold.
        let mut i = 8;
        let mut kinds = Vec::new();
        while i < out.len() {
            let len = u32::from_be_bytes(out[i..i + 4].try_into().unwrap()) as usize;
            let kind = &out[i + 4..i + 8];
            let data = &out[i + 8..i + 8 + len];
            let crc = u32::from_be_bytes(out[i + 8 + len..i + 12 + len].try_into().unwrap());
            let mut h = crc32fast::Hasher::new();
            h.update(kind);
            h.update(data);
            assert_eq!(h.finalize(), crc);
            kinds.push(String::from_utf8_lossy(kind).into_owned());
            i += 12 + len;
        }
        assert_eq!(kinds.first().map(String::as_str), Some("IHDR"));
        assert_eq!(kinds.last().map(String::as_str), Some("IEND"));
        assert_eq!(kinds.iter().filter(|k| *k == "tEXt").count(), 6);
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("mpf:set\0iperf-20261125T100000Z-ab12"));
    }
}
