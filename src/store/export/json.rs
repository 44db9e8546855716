//! `--format json`: the runs as a JSON array, one object per line, keys in the order of the
//! CSV columns (`pd.read_json(path)` reads it as it is).

use super::{json_rows, Content, Exporter, WriteSend};
use crate::error::{Error, IoContext, Result};
use crate::store::ResultSet;

pub(super) struct Json;

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
        let rows = json_rows(set);
        let mut text = String::from("[\n");
        for (i, row) in rows.iter().enumerate() {
            let line = serde_json::to_string(row)
                .map_err(|e| Error::Runtime(format!("failed to encode json: {e}")))?;
            text.push_str(&line);
            text.push_str(if i + 1 < rows.len() { ",\n" } else { "\n" });
        }
        text.push_str("]\n");
        out.write_all(text.as_bytes())
            .ctx(|| "failed to write json".to_string())?;
        Ok(Vec::new())
    }
}
