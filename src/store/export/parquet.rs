//! `--format parquet`: the runs with typed columns (`store::parquet`), or the monitoring
//! samples (`--timeseries`). Binary: without `-o` it goes into the set, not to a terminal.
//! The runs are read from the journal one at a time and written in row groups of 8,192 rows.

use super::{Content, Exporter, WriteSend};
use crate::error::Result;
use crate::store::{Manifest, ResultSet};
use std::path::Path;

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

    fn streams(&self, content: Content) -> bool {
        content == Content::Results
    }

    fn write_streamed(
        &self,
        _content: Content,
        dir: &Path,
        manifest: &Manifest,
        out: &mut dyn WriteSend,
    ) -> Result<Vec<String>> {
        crate::store::parquet::write_journal(
            manifest,
            &dir.join(crate::store::layout::JOURNAL),
            out,
        )?;
        Ok(Vec::new())
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
