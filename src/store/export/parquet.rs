//! `--format parquet`: the runs with typed columns (`store::parquet`), or the monitoring
//! samples (`--timeseries`). Binary: without `-o` it goes into the set, not to a terminal.

use super::{Content, Exporter, WriteSend};
use crate::error::Result;
use crate::store::ResultSet;

pub(super) struct Parquet;

impl Exporter for Parquet {
    fn name(&self) -> &'static str {
        "parquet"
    }

    fn holds(&self, content: Content) -> bool {
        content != Content::Series
    }

    fn default_file(&self, content: Content) -> Option<&'static str> {
        match content {
            Content::Timeseries => Some("monitor.parquet"),
            _ => Some("results.parquet"),
        }
    }

    fn write(
        &self,
        content: Content,
        set: &ResultSet,
        out: &mut dyn WriteSend,
    ) -> Result<Vec<String>> {
        match content {
            Content::Timeseries => crate::store::timeseries::write_parquet(set, out),
            _ => {
                crate::store::parquet::write(set, out)?;
                Ok(Vec::new())
            }
        }
    }
}
