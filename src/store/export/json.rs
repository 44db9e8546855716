//! `--format json`: the runs as a JSON array, one object per line, keys in the order of the
//! CSV columns (`pd.read_json(path)` reads it as it is).

use std::io::Write;

use super::{json_row, sorted_records, Content, Exporter, WriteSend};
use crate::error::{Error, IoContext, Result};
use crate::store::ResultSet;

pub(super) struct Json;

/// What a failed write names.
fn what() -> String {
    "failed to write json".to_string()
}

impl Exporter for Json {
    fn name(&self) -> &'static str {
        "json"
    }

    fn write(
        &self,
        _content: Content,
        set: &ResultSet,
        out: &mut dyn WriteSend,
    ) -> Result<Vec<String>> {
        // Each run's object is made and written in turn: a set may have 10^5 runs (SPEC 15).
        let mut out = std::io::BufWriter::new(out);
        let make = json_row(set);
        let rows = sorted_records(set);
        out.write_all(b"[\n").ctx(what)?;
        for (i, r) in rows.iter().enumerate() {
            serde_json::to_writer(&mut out, &make(r)).map_err(|e| match e.is_io() {
                true => Error::io(what(), e.into()),
                false => Error::Runtime(format!("failed to encode json: {e}")),
            })?;
            out.write_all(if i + 1 < rows.len() { b",\n" } else { b"\n" })
                .ctx(what)?;
        }
        out.write_all(b"]\n").ctx(what)?;
        out.flush().ctx(what)?;
        Ok(Vec::new())
    }
}
