//! `mpf export`: CSV, JSON and Parquet.

use std::process::Command;

use crate::common::mpf_in;
use crate::fixtures;

#[test]
fn csv_export_is_results_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixtures::iperf(&tmp.path().join("results"));
    let out = mpf_in(tmp.path())
        .args(["export", "latest", "--format", "csv"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let csv = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    let out = String::from_utf8(out).unwrap();
    for (a, b) in out.lines().zip(csv.lines()) {
        assert_eq!(a, b);
    }
    assert_eq!(out.lines().count(), csv.lines().count());
}

#[test]
fn json_export_keeps_types() {
    let tmp = tempfile::tempdir().unwrap();
    fixtures::multipath(&tmp.path().join("results"));
    let out = mpf_in(tmp.path())
        .args(["export", "multipath", "--format", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let rows: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 18);
    // Nulls where `when` is false, typed numbers and booleans, the CSV's column order.
    assert!(rows[0]["scheduler"].is_null());
    assert!(rows[0]["goodput"].is_f64());
    assert_eq!(rows[0]["ok"], serde_json::json!(true));
    let keys: Vec<&String> = rows[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "variant",
            "scheduler",
            "cc",
            "goodput",
            "completion",
            "repetition",
            "run",
            "ok"
        ]
    );
    insta::assert_snapshot!(String::from_utf8(out).unwrap());
}

#[test]
fn json_to_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    fixtures::single_point(&tmp.path().join("results"));
    mpf_in(tmp.path())
        .args(["export", "latest", "--format", "json", "-o", "runs.json"])
        .assert()
        .success();
    let text = std::fs::read_to_string(tmp.path().join("runs.json")).unwrap();
    assert!(text.starts_with("[\n{\"time\":10,\"rtt\":"), "{text}");
}

#[test]
fn parquet_goes_beside_the_csv_without_o() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixtures::quickstart(&tmp.path().join("results"));
    mpf_in(tmp.path())
        .args(["export", "latest", "--format", "parquet"])
        .assert()
        .success();
    let data = std::fs::read(dir.join("results.parquet")).unwrap();
    assert_eq!(&data[..4], b"PAR1");
    assert_eq!(&data[data.len() - 4..], b"PAR1");
}

#[test]
fn bad_format_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    fixtures::quickstart(&tmp.path().join("results"));
    mpf_in(tmp.path())
        .args(["export", "latest", "--format", "xlsx"])
        .assert()
        .code(2);
}

/// Reads the Parquet export back with pandas (pyarrow) and compares it with results.csv.
const PANDAS_CHECK: &str = r#"
import json, sys
import pandas as pd, pyarrow.parquet as pq
csv_path, pq_path, series, ints = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
c = pd.read_csv(csv_path)
p = pd.read_parquet(pq_path)
assert list(c.columns) == list(p.columns), (list(c.columns), list(p.columns))
for col in series:
    c[col] = c[col].map(lambda s: json.loads(s) if isinstance(s, str) else None)
    p[col] = p[col].map(lambda a: None if a is None else [float(x) for x in a])
# CSV cannot tell an empty string from a missing value; Parquet can. Compare as CSV sees it.
for col in p.columns:
    if col not in series and not pd.api.types.is_numeric_dtype(p[col]):
        p[col] = p[col].map(lambda v: None if v == "" else v)
for col in ints:
    assert str(p[col].dtype) == "int64", (col, p[col].dtype)
assert str(p["ok"].dtype) == "bool", p["ok"].dtype
def norm(df):
    return df.astype(object).where(pd.notna(df), None)
pd.testing.assert_frame_equal(norm(c), norm(p), check_dtype=False)
meta = pq.read_metadata(pq_path).metadata
print(json.dumps({k.decode(): v.decode() for k, v in meta.items()}))
"#;

fn pandas_available() -> bool {
    Command::new("python3")
        .args(["-c", "import pandas, pyarrow"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn check_with_pandas(
    set_dir: &std::path::Path,
    series: &[&str],
    ints: &[&str],
) -> serde_json::Value {
    let pq = set_dir.join("check.parquet");
    crate::common::mpf()
        .args(["export"])
        .arg(set_dir)
        .args(["--format", "parquet", "-o"])
        .arg(&pq)
        .assert()
        .success();
    let out = Command::new("python3")
        .arg("-c")
        .arg(PANDAS_CHECK)
        .arg(set_dir.join("results.csv"))
        .arg(&pq)
        .arg(serde_json::to_string(series).unwrap())
        .arg(serde_json::to_string(ints).unwrap())
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "pandas check failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("metadata json")
}

#[test]
fn parquet_reads_back_equal_to_results_csv_in_pandas() {
    if !pandas_available() {
        eprintln!("SKIPPED parquet_reads_back_equal_to_results_csv_in_pandas: python3 with pandas and pyarrow not found (pip install pandas pyarrow)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("results");
    let meta = check_with_pandas(
        &fixtures::iperf(&root),
        &["intervals"],
        &["parallel", "time", "repetition", "run"],
    );
    assert_eq!(meta["mpf.id"], "iperf-20261125T100000Z-ab12");
    let units: serde_json::Value =
        serde_json::from_str(meta["mpf.units"].as_str().unwrap()).unwrap();
    assert_eq!(units["goodput"], "bit/s");
    assert_eq!(units["client.duration"], "s");
    let labels: serde_json::Value =
        serde_json::from_str(meta["mpf.labels"].as_str().unwrap()).unwrap();
    assert_eq!(labels["zerocopy"]["-Z"], "enabled");
    // Nulls (`when` false) and strings.
    check_with_pandas(&fixtures::multipath(&root), &[], &["repetition", "run"]);
    check_with_pandas(
        &fixtures::quickstart(&root),
        &[],
        &["size", "repetition", "run"],
    );
}

#[test]
fn labels_are_their_own_columns_and_empty_strings_stay_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let set = fixtures::iperf(&tmp.path().join("results"));
    let out = mpf_in(tmp.path())
        .args(["export", "latest", "--format", "json"])
        .output()
        .unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = rows[0].as_object().unwrap();
    let keys: Vec<&str> = first.keys().map(String::as_str).collect();
    assert_eq!(
        keys[..5],
        ["parallel", "zerocopy", "zerocopy_label", "time", "goodput"]
    );
    assert_eq!(first["zerocopy"], "");
    assert_eq!(first["zerocopy_label"], "disabled");
    assert_eq!(rows[3]["zerocopy_label"], "enabled");
    let csv = std::fs::read_to_string(set.join("results.csv")).unwrap();
    assert!(
        csv.starts_with("parallel,zerocopy,zerocopy_label,time,goodput,"),
        "{csv}"
    );
    if !pandas_available() {
        eprintln!("SKIPPED the pandas part: python3 with pandas and pyarrow not found");
        return;
    }
    // What docs/export.md tells pandas users to write.
    let check = r#"
import sys, pandas as pd
df = pd.read_csv(sys.argv[1], keep_default_na=False)
assert list(df["zerocopy"][:4]) == ["", "", "", "-Z"], list(df["zerocopy"][:4])
assert list(df["zerocopy_label"][:4]) == ["disabled"] * 3 + ["enabled"]
p = pd.read_parquet(sys.argv[2])
assert list(p["zerocopy"][:4]) == ["", "", "", "-Z"], list(p["zerocopy"][:4])
assert list(p["zerocopy_label"][:4]) == ["disabled"] * 3 + ["enabled"]
"#;
    let pq = set.join("labels.parquet");
    crate::common::mpf()
        .arg("export")
        .arg(&set)
        .args(["--format", "parquet", "-o"])
        .arg(&pq)
        .assert()
        .success();
    let out = Command::new("python3")
        .args(["-c", check])
        .arg(set.join("results.csv"))
        .arg(&pq)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
