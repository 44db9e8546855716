//! `csv: COLUMN`: one column of a CSV text (header row, commas), a series.

use std::sync::Arc;

use super::{too_long, Found, Kind, KindEntry, Options, Searched, Series, MAX_SERIES_VALUES};

pub(super) const KIND: KindEntry = KindEntry { name: "csv", parse };

#[derive(Debug, Clone)]
pub struct Csv {
    pub column: String,
}

fn parse(o: &Options) -> Result<Arc<dyn Kind>, String> {
    if o.all {
        return Err("all applies to regex results (a csv column is a series already)".into());
    }
    if o.value.trim().is_empty() {
        return Err("csv names no column".into());
    }
    Ok(Arc::new(Csv {
        column: o.value.to_string(),
    }))
}

impl Kind for Csv {
    fn series(&self) -> Series {
        Series::Always
    }

    fn apply(&self, t: &Searched) -> Result<Found, String> {
        csv_column(t.text, &self.column, |s| t.convert(s))
            .map_err(|m| format!("{m} in {}", t.what))
            .map(Found::Series)
    }
}

/// The cells of one column of a CSV text (header row, commas), converted; empty cells are
/// left out.
fn csv_column(
    text: &str,
    column: &str,
    convert: impl Fn(&str) -> Result<f64, String>,
) -> Result<Vec<f64>, String> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = rdr.headers().map_err(|e| format!("csv: {e}"))?.clone();
    let col = header.iter().position(|h| h == column).ok_or_else(|| {
        let names: Vec<&str> = header.iter().take(20).collect();
        format!(
            "csv has no column '{column}' (its header: {})",
            names.join(", ")
        )
    })?;
    let mut list = Vec::new();
    for (i, row) in rdr.records().enumerate() {
        let row = row.map_err(|e| format!("csv row {}: {e}", i + 2))?;
        let Some(cell) = row.get(col).filter(|c| !c.is_empty()) else {
            continue;
        };
        if list.len() >= MAX_SERIES_VALUES {
            return Err(too_long());
        }
        list.push(
            convert(cell).map_err(|m| format!("csv line {}, column '{column}': {m}", i + 2))?,
        );
    }
    if list.is_empty() {
        return Err(format!("csv column '{column}' holds no value"));
    }
    Ok(list)
}
