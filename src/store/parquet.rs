//! Parquet export with typed columns: integers, floats, booleans and strings for variables,
//! doubles for results, lists of doubles for series results, then `repetition`, `run` (int64)
//! and `ok` (boolean). The file's key-value metadata holds the result-set id (`mpf.id`), the
//! units of the results (`mpf.units`, JSON), the variable names (`mpf.variables`, JSON) and the
//! value labels (`mpf.labels`, JSON).

use std::io::Write;
use std::sync::Arc;

use parquet::basic::{LogicalType, Repetition, Type as Physical};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedColumnWriter, SerializedFileWriter};
use parquet::schema::types::{Type, TypePtr};
use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::store::export::sorted_records;
use crate::store::record::{value_text, RunRecord, RunStatus};
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
    let mut kind: Option<ColumnType> = None;
    for v in values {
        let k = match v {
            Value::Null => continue,
            Value::Number(n) if n.is_i64() || n.is_u64() => ColumnType::Int,
            Value::Number(_) => ColumnType::Float,
            Value::Bool(_) => ColumnType::Bool,
            _ => ColumnType::Text,
        };
        kind = Some(match (kind, k) {
            (None, k) => k,
            (Some(a), b) if a == b => a,
            (Some(ColumnType::Int), ColumnType::Float)
            | (Some(ColumnType::Float), ColumnType::Int) => ColumnType::Float,
            _ => ColumnType::Text,
        });
    }
    // A variable that is null everywhere is written as text: every reader takes that.
    kind.unwrap_or(ColumnType::Text)
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

fn columns(set: &ResultSet, rows: &[&RunRecord]) -> Vec<Column> {
    let m = &set.manifest;
    let mut cols = Vec::new();
    for c in crate::store::csv::variable_columns(m) {
        let cells: Vec<Value> = rows.iter().map(|r| c.cell(&r.point)).collect();
        let kind = if c.label {
            ColumnType::Text
        } else {
            variable_type(c.variable.values.iter().chain(cells.iter()))
        };
        cols.push(Column {
            name: c.name(),
            kind,
            required: false,
            cells,
        });
    }
    for (x, name) in m.results.iter().zip(crate::store::csv::result_columns(m)) {
        let cells: Vec<Value> = rows
            .iter()
            .map(|r| r.results.get(&x.name).cloned().unwrap_or(Value::Null))
            .collect();
        let series = x.series || cells.iter().any(Value::is_array);
        cols.push(Column {
            name,
            kind: if series {
                ColumnType::FloatList
            } else {
                ColumnType::Float
            },
            required: false,
            cells,
        });
    }
    let fixed = |name: &str, kind, f: &dyn Fn(&RunRecord) -> Value| Column {
        name: name.to_string(),
        kind,
        required: true,
        cells: rows.iter().map(|r| f(r)).collect(),
    };
    cols.push(fixed("repetition", ColumnType::Int, &|r| {
        Value::from(r.repetition)
    }));
    cols.push(fixed("run", ColumnType::Int, &|r| Value::from(r.index)));
    cols.push(fixed("ok", ColumnType::Bool, &|r| {
        Value::Bool(r.status == RunStatus::Ok)
    }));
    cols
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
pub(crate) fn metadata(set: &ResultSet) -> Vec<KeyValue> {
    let m = &set.manifest;
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

/// Writes every run (failed ones included, `ok` false) as one row group.
pub(crate) fn write(set: &ResultSet, out: impl Write + Send) -> Result<()> {
    let rows = sorted_records(set);
    let cols = columns(set, &rows);
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
        .set_key_value_metadata(Some(metadata(set)))
        .build();
    let mut writer =
        SerializedFileWriter::new(out, Arc::new(schema), Arc::new(props)).map_err(pq_err)?;
    let mut group = writer.next_row_group().map_err(pq_err)?;
    let mut i = 0;
    while let Some(mut column) = group.next_column().map_err(pq_err)? {
        let col = cols
            .get(i)
            .ok_or_else(|| Error::Runtime("failed to write parquet: schema mismatch".into()))?;
        write_column(&mut column, col)?;
        column.close().map_err(pq_err)?;
        i += 1;
    }
    group.close().map_err(pq_err)?;
    writer.close().map_err(pq_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
