//! `--format csv`: the runs byte for byte as `results.csv` holds them; also the monitoring
//! samples (`--timeseries`) and the series' samples (`--series`) as long tables.

use super::{Content, Exporter, WriteSend};
use crate::error::Result;
use crate::store::ResultSet;

pub(super) struct Csv;

impl Exporter for Csv {
    fn name(&self) -> &'static str {
        "csv"
    }

    fn holds(&self, _content: Content) -> bool {
        true
    }

    fn write(
        &self,
        content: Content,
        set: &ResultSet,
        out: &mut dyn WriteSend,
    ) -> Result<Vec<String>> {
        match content {
            Content::Results => {
                crate::store::csv::write(&set.manifest, &set.records, out)?;
                Ok(Vec::new())
            }
            Content::Timeseries => crate::store::timeseries::write_csv(set, out),
            Content::Series => crate::store::series::write_long(set, out),
        }
    }
}
