//! Parquet export with typed columns: integers, floats, booleans and strings for variables,
//! doubles for results, lists of doubles for series results, then `repetition`, `run` (int64)
//! and `ok` (boolean). The file's key-value metadata holds the result-set id (`mpf.id`), the
//! units of the results (`mpf.units`, JSON), the variable names (`mpf.variables`, JSON) and the
//! value labels (`mpf.labels`, JSON).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use parquet::basic::{LogicalType, Repetition, Type as Physical};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedColumnWriter, SerializedFileWriter};
use parquet::schema::types::{Type, TypePtr};
use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::store::csv::VariableColumn;
use crate::store::export::sorted_records;
use crate::store::record::{value_text, Manifest, RunRecord, RunStatus};
use crate::store::ResultSet;

/// The type of a column, decided from every value it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnType {
    Int,
    Float,
    Bool,
    Text,
    FloatList,
}

/// The narrowest type that holds all of `values` (nulls aside); text when they are mixed.
pub(crate) fn variable_type<'a>(values: impl Iterator<Item = &'a Value>) -> ColumnType {
    // A variable that is null everywhere is written as text: every reader takes that.
    values.fold(None, widen).unwrap_or(ColumnType::Text)
}

/// The narrowest type that holds the values `kind` holds and `v` (`None`: only nulls so far).
fn widen(kind: Option<ColumnType>, v: &Value) -> Option<ColumnType> {
    let k = match v {
        Value::Null => return kind,
        Value::Number(n) if n.is_i64() || n.is_u64() => ColumnType::Int,
        Value::Number(_) => ColumnType::Float,
        Value::Bool(_) => ColumnType::Bool,
        _ => ColumnType::Text,
    };
    Some(match (kind, k) {
        (None, k) => k,
        (Some(a), b) if a == b => a,
        (Some(ColumnType::Int), ColumnType::Float) | (Some(ColumnType::Float), ColumnType::Int) => {
            ColumnType::Float
        }
        _ => ColumnType::Text,
    })
}

pub(crate) fn pq_err(e: parquet::errors::ParquetError) -> Error {
    Error::Runtime(format!("failed to write parquet: {e}"))
}

pub(crate) fn column_schema(name: &str, t: ColumnType, required: bool) -> Result<TypePtr> {
    let repetition = if required {
        Repetition::REQUIRED
    } else {
        Repetition::OPTIONAL
    };
    let primitive = |physical: Physical, logical: Option<LogicalType>, n: &str, rep| {
        Type::primitive_type_builder(n, physical)
            .with_repetition(rep)
            .with_logical_type(logical)
            .build()
            .map(Arc::new)
            .map_err(pq_err)
    };
    match t {
        ColumnType::Int => primitive(Physical::INT64, None, name, repetition),
        ColumnType::Float => primitive(Physical::DOUBLE, None, name, repetition),
        ColumnType::Bool => primitive(Physical::BOOLEAN, None, name, repetition),
        ColumnType::Text => primitive(
            Physical::BYTE_ARRAY,
            Some(LogicalType::String),
            name,
            repetition,
        ),
        ColumnType::FloatList => {
            // The standard three-level list: <name> (LIST) / repeated list / element.
            let element = primitive(Physical::DOUBLE, None, "element", Repetition::OPTIONAL)?;
            let list = Type::group_type_builder("list")
                .with_repetition(Repetition::REPEATED)
                .with_fields(vec![element])
                .build()
                .map_err(pq_err)?;
            Type::group_type_builder(name)
                .with_repetition(repetition)
                .with_logical_type(Some(LogicalType::List))
                .with_fields(vec![Arc::new(list)])
                .build()
                .map(Arc::new)
                .map_err(pq_err)
        }
    }
}

/// A column to write: its name, type and one JSON value per row.
pub(crate) struct Column {
    pub name: String,
    pub kind: ColumnType,
    pub required: bool,
    pub cells: Vec<Value>,
}

/// Rows per row group: what the writer holds of a set at once is one group's columns, so
/// that a set of 10^5 or 10^6 runs is written in bounded memory (SPEC §15).
const ROW_GROUP: usize = 8192;

/// Calls its argument with every run of a set, in run order.
type Visit<'v> = dyn Fn(&mut dyn FnMut(&RunRecord) -> Result<()>) -> Result<()> + 'v;

/// The columns of a set's runs, without cells: their types are decided from every value they
/// will hold (a first pass over the runs).
fn empty_columns(m: &Manifest, visit: &Visit) -> Result<Vec<Column>> {
    let vars = crate::store::csv::variable_columns(m);
    let mut kinds: Vec<Option<ColumnType>> = vars
        .iter()
        .map(|c| c.variable.values.iter().fold(None, widen))
        .collect();
    let mut series: Vec<bool> = m.results.iter().map(|x| x.series).collect();
    visit(&mut |r| {
        for (kind, c) in kinds.iter_mut().zip(&vars).filter(|(_, c)| !c.label) {
            *kind = widen(*kind, &c.cell(&r.point));
        }
        for (s, x) in series.iter_mut().zip(&m.results) {
            *s = *s || r.results.get(&x.name).is_some_and(Value::is_array);
        }
        Ok(())
    })?;
    let column = |name: String, kind, required| Column {
        name,
        kind,
        required,
        cells: Vec::new(),
    };
    let mut cols = Vec::new();
    for (c, kind) in vars.iter().zip(kinds) {
        let kind = match c.label {
            true => ColumnType::Text,
            false => kind.unwrap_or(ColumnType::Text),
        };
        cols.push(column(c.name(), kind, false));
    }
    for (name, series) in crate::store::csv::result_columns(m).into_iter().zip(series) {
        let kind = match series {
            true => ColumnType::FloatList,
            false => ColumnType::Float,
        };
        cols.push(column(name, kind, false));
    }
    cols.push(column("repetition".into(), ColumnType::Int, true));
    cols.push(column("run".into(), ColumnType::Int, true));
    cols.push(column("ok".into(), ColumnType::Bool, true));
    Ok(cols)
}

/// Adds a run's cells to `cols` (made by `empty_columns` for the same manifest).
fn push_row(m: &Manifest, vars: &[VariableColumn], cols: &mut [Column], r: &RunRecord) {
    let results = m
        .results
        .iter()
        .map(|x| r.results.get(&x.name).cloned().unwrap_or(Value::Null));
    let fixed = [
        Value::from(r.repetition),
        Value::from(r.index),
        Value::Bool(r.status == RunStatus::Ok),
    ];
    let cells = vars
        .iter()
        .map(|c| c.cell(&r.point))
        .chain(results)
        .chain(fixed);
    for (col, cell) in cols.iter_mut().zip(cells) {
        col.cells.push(cell);
    }
}

/// Definition levels of a flat optional column, and the present values.
fn flat<T>(col: &Column, get: impl Fn(&Value) -> Option<T>) -> (Vec<T>, Vec<i16>) {
    let mut values = Vec::new();
    let mut defs = Vec::new();
    for c in &col.cells {
        match get(c) {
            Some(v) => {
                values.push(v);
                defs.push(1);
            }
            None => defs.push(0),
        }
    }
    (values, defs)
}

pub(crate) fn write_column(writer: &mut SerializedColumnWriter<'_>, col: &Column) -> Result<()> {
    let defs_for = |defs: &[i16]| -> Option<Vec<i16>> { (!col.required).then(|| defs.to_vec()) };
    match col.kind {
        ColumnType::Int => {
            let (v, d) = flat(col, |x| x.as_i64().or_else(|| x.as_u64().map(|u| u as i64)));
            writer
                .typed::<Int64Type>()
                .write_batch(&v, defs_for(&d).as_deref(), None)
                .map_err(pq_err)?;
        }
        ColumnType::Float => {
            let (v, d) = flat(col, Value::as_f64);
            writer
                .typed::<DoubleType>()
                .write_batch(&v, defs_for(&d).as_deref(), None)
                .map_err(pq_err)?;
        }
        ColumnType::Bool => {
            let (v, d) = flat(col, Value::as_bool);
            writer
                .typed::<BoolType>()
                .write_batch(&v, defs_for(&d).as_deref(), None)
                .map_err(pq_err)?;
        }
        ColumnType::Text => {
            let (v, d) = flat(col, |x| {
                (!x.is_null()).then(|| ByteArray::from(value_text(x).as_str()))
            });
            writer
                .typed::<ByteArrayType>()
                .write_batch(&v, defs_for(&d).as_deref(), None)
                .map_err(pq_err)?;
        }
        ColumnType::FloatList => {
            // Levels: 0 null list, 1 empty list, 2 null element, 3 element; repetition 1
            // continues the row's list.
            let (mut values, mut defs, mut reps) = (Vec::new(), Vec::new(), Vec::new());
            for c in &col.cells {
                match c {
                    Value::Array(items) if !items.is_empty() => {
                        for (i, item) in items.iter().enumerate() {
                            reps.push(if i == 0 { 0 } else { 1 });
                            match item.as_f64() {
                                Some(x) => {
                                    values.push(x);
                                    defs.push(3);
                                }
                                None => defs.push(2),
                            }
                        }
                    }
                    Value::Array(_) => {
                        reps.push(0);
                        defs.push(1);
                    }
                    // A plain number in a series column is a list of one.
                    Value::Number(n) => {
                        reps.push(0);
                        values.push(n.as_f64().unwrap_or(f64::NAN));
                        defs.push(3);
                    }
                    _ => {
                        reps.push(0);
                        defs.push(0);
                    }
                }
            }
            writer
                .typed::<DoubleType>()
                .write_batch(&values, Some(&defs), Some(&reps))
                .map_err(pq_err)?;
        }
    }
    Ok(())
}

/// The key-value metadata of the file.
pub(crate) fn metadata(m: &Manifest) -> Vec<KeyValue> {
    let units: Map<String, Value> = m
        .results
        .iter()
        .map(|r| (r.name.clone(), Value::String(r.unit.clone())))
        .collect();
    let labels: Map<String, Value> = m
        .variables
        .iter()
        .map(|v| {
            let pairs: Map<String, Value> = v
                .values
                .iter()
                .zip(&v.labels)
                .map(|(val, l)| (value_text(val), Value::String(l.clone())))
                .collect();
            (v.name.clone(), Value::Object(pairs))
        })
        .collect();
    let names: Vec<&str> = m.variables.iter().map(|v| v.name.as_str()).collect();
    vec![
        KeyValue::new("mpf.id".into(), m.id.clone()),
        KeyValue::new("mpf.units".into(), Value::Object(units).to_string()),
        KeyValue::new("mpf.variables".into(), json!(names).to_string()),
        KeyValue::new("mpf.labels".into(), Value::Object(labels).to_string()),
        KeyValue::new("mpf.version".into(), m.mpf_version.clone()),
    ]
}

/// Writes every run of the set (failed ones included, `ok` false), in run order.
pub(crate) fn write(set: &ResultSet, out: impl Write + Send) -> Result<()> {
    let rows = sorted_records(set);
    let visit = |f: &mut dyn FnMut(&RunRecord) -> Result<()>| rows.iter().try_for_each(|r| f(r));
    write_runs(&set.manifest, &visit, out)
}

/// `write` of the set whose manifest is `manifest`, its runs read from `journal` one at a time
/// (twice: for the columns' types, then for their cells), so that no more than a row group's
/// cells are held.
pub(crate) fn write_journal(
    manifest: &Manifest,
    journal: &Path,
    out: impl Write + Send,
) -> Result<()> {
    let visit = |f: &mut dyn FnMut(&RunRecord) -> Result<()>| {
        crate::store::resultset::for_each_record(journal, |r| f(&r))
    };
    write_runs(manifest, &visit, out)
}

/// The runs `visit` gives, in row groups of `ROW_GROUP` rows (one empty group without runs).
fn write_runs(m: &Manifest, visit: &Visit, out: impl Write + Send) -> Result<()> {
    let mut cols = empty_columns(m, visit)?;
    let fields: Vec<TypePtr> = cols
        .iter()
        .map(|c| column_schema(&c.name, c.kind, c.required))
        .collect::<Result<_>>()?;
    let schema = Type::group_type_builder("schema")
        .with_fields(fields)
        .build()
        .map_err(pq_err)?;
    let props = WriterProperties::builder()
        .set_created_by(format!("mpf {}", crate::VERSION))
        .set_key_value_metadata(Some(metadata(m)))
        .build();
    let mut writer =
        SerializedFileWriter::new(out, Arc::new(schema), Arc::new(props)).map_err(pq_err)?;
    let vars = crate::store::csv::variable_columns(m);
    let mut rows = 0usize;
    visit(&mut |r| {
        push_row(m, &vars, &mut cols, r);
        rows += 1;
        if rows.is_multiple_of(ROW_GROUP) {
            write_group(&mut writer, &mut cols)?;
        }
        Ok(())
    })?;
    if rows == 0 || !rows.is_multiple_of(ROW_GROUP) {
        write_group(&mut writer, &mut cols)?;
    }
    writer.close().map_err(pq_err)?;
    Ok(())
}

/// Writes the cells of `cols` as one row group, and empties them.
fn write_group<W: Write + Send>(
    writer: &mut SerializedFileWriter<W>,
    cols: &mut [Column],
) -> Result<()> {
    let mut group = writer.next_row_group().map_err(pq_err)?;
    let mut i = 0;
    while let Some(mut column) = group.next_column().map_err(pq_err)? {
        let col = cols
            .get_mut(i)
            .ok_or_else(|| Error::Runtime("failed to write parquet: schema mismatch".into()))?;
        write_column(&mut column, col)?;
        column.close().map_err(pq_err)?;
        col.cells.clear();
        i += 1;
    }
    group.close().map_err(pq_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A set of `n` runs of `x` (an integer but in the last run, 2.5) and `lat`, every tenth
    /// run failed; its records in the journal in reverse order.
    fn set_of(n: usize, dir: &Path) -> ResultSet {
        use crate::store::writer::tests::{manifest, ok_record};
        let mut m = manifest("pq");
        m.variables
            .push(crate::report::plot::figure::tests::var("x", vec![json!(1)]));
        m.results.push(crate::store::record::ResultInfo {
            name: "lat".into(),
            unit: "ms".into(),
            better: crate::store::record::Better::Lower,
            series: false,
        });
        let records: Vec<RunRecord> = (0..n)
            .rev()
            .map(|i| {
                let x = if i + 1 == n { json!(2.5) } else { json!(i) };
                let mut r = ok_record(i, json!({ "x": x }), 0, json!({"lat": i as f64 / 4.0}));
                if i % 10 == 0 {
                    r.status = RunStatus::Failed;
                }
                r
            })
            .collect();
        let mut text = String::new();
        for r in &records {
            text.push_str(&serde_json::to_string(r).unwrap());
            text.push('\n');
        }
        std::fs::write(dir.join("journal.jsonl"), text).unwrap();
        ResultSet {
            dir: dir.to_path_buf(),
            manifest: m,
            records,
        }
    }

    #[test]
    fn a_journal_is_written_in_row_groups_typed_by_every_run() {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        use parquet::record::Field;
        let tmp = tempfile::tempdir().unwrap();
        let n = 2 * ROW_GROUP + 100;
        let set = set_of(n, tmp.path());
        let mut streamed = Vec::new();
        write_journal(
            &set.manifest,
            &tmp.path().join("journal.jsonl"),
            &mut streamed,
        )
        .unwrap();
        let mut loaded = Vec::new();
        write(&set, &mut loaded).unwrap();
        assert!(
            streamed == loaded,
            "the same file from the journal and from the records"
        );
        let path = tmp.path().join("x.parquet");
        std::fs::write(&path, &streamed).unwrap();
        let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        let meta = reader.metadata();
        assert_eq!(meta.num_row_groups(), 3);
        assert_eq!(meta.file_metadata().num_rows(), n as i64);
        let schema = meta.file_metadata().schema_descr();
        // x is a float: the last run, in the last group, decided it for the first.
        assert_eq!(schema.column(0).physical_type(), Physical::DOUBLE);
        let rows: Vec<Vec<Field>> = reader
            .get_row_iter(None)
            .unwrap()
            .map(|r| {
                r.unwrap()
                    .get_column_iter()
                    .map(|(_, f)| f.clone())
                    .collect()
            })
            .collect();
        assert_eq!(rows.len(), n);
        for (i, row) in rows.iter().enumerate() {
            let x = if i + 1 == n { 2.5 } else { i as f64 };
            let expected = [
                Field::Double(x),
                Field::Double(i as f64 / 4.0),
                Field::Long(0),
                Field::Long(i as i64),
                Field::Bool(i % 10 != 0),
            ];
            assert_eq!(row[..], expected[..], "run {i}");
        }
    }

    #[test]
    fn a_set_without_runs_is_one_empty_row_group() {
        let tmp = tempfile::tempdir().unwrap();
        let set = set_of(0, tmp.path());
        let path = tmp.path().join("x.parquet");
        let out = std::fs::File::create(&path).unwrap();
        write_journal(&set.manifest, &tmp.path().join("journal.jsonl"), out).unwrap();
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 1);
        assert_eq!(reader.metadata().file_metadata().num_rows(), 0);
    }

    #[test]
    fn column_types() {
        let t = |v: Value| variable_type(v.as_array().unwrap().iter());
        assert_eq!(t(json!([1, 2, null])), ColumnType::Int);
        assert_eq!(t(json!([1, 2.5])), ColumnType::Float);
        assert_eq!(t(json!(["", "-Z"])), ColumnType::Text);
        assert_eq!(t(json!([1, "auto"])), ColumnType::Text);
        assert_eq!(t(json!([true, false])), ColumnType::Bool);
        assert_eq!(t(json!([null])), ColumnType::Text);
    }
}
