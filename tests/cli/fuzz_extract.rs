//! `mpf extract` fed hostile result sets: a journal whose steps name odd directories, stored
//! logs and files of random bytes, role directories that are links out of the set, and
//! experiment files mutated as the other fuzz targets mutate them. The properties: no panic; a
//! refusal changes nothing; a re-extraction keeps every run; nothing outside the set is read.

use std::path::Path;

use proptest::prelude::*;
use serde_json::json;

use crate::fixtures::{manifest, record, var};
use crate::fuzz::{apply, config, edit, output_line};

/// What extraction may read, with each kind of extractor; the value outside the set is 666.
const EXPERIMENT: &str = r#"name: fuzz
runs: 2
variables:
  x: [1, 2]
steps:
  - name: s
    role: client
    run: "true"
    results:
      r: 'r=(\d+)'
      j: {json: a.b}
      f: {file: "{{ run_dir }}/v.txt", regex: 'v (\d+)'}
      rel: {file: sub/w.txt, regex: '(\d+)'}
      all: {regex: 'v (\d+)', all: true, stats: [mean, max, count]}
      c: {file: c.csv, csv: lat, in: ms, unit: s}
"#;

/// A directory name as a hostile journal may give it.
fn dir_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("client".to_string()),
        1 => Just("..".to_string()),
        1 => Just("../..".to_string()),
        1 => Just("../../../..".to_string()),
        1 => Just(".".to_string()),
        1 => Just(String::new()),
        1 => Just("a/b".to_string()),
        1 => Just("/tmp".to_string()),
        1 => "[a-z.]{1,6}",
    ]
}

#[derive(Debug, Clone)]
struct Run {
    role: String,
    node: Option<String>,
    ok: bool,
    extraction_failed: bool,
    /// The role's directory is a link to the directory holding the set.
    linked: bool,
    x: serde_json::Value,
    stdout: Vec<String>,
    file: Vec<u8>,
}

fn run() -> impl Strategy<Value = Run> {
    (
        dir_name(),
        prop::option::weighted(0.2, dir_name()),
        any::<(bool, bool, bool)>(),
        prop_oneof![Just(json!(1)), Just(json!(2)), Just(json!("junk"))],
        prop::collection::vec(output_line(), 0..6),
        prop::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(role, node, (ok, ef, linked), x, stdout, file)| Run {
            role,
            node,
            ok,
            extraction_failed: ef,
            linked: linked && ok,
            x,
            stdout,
            file,
        })
}

/// Writes a set of `runs` under `root/results` and returns its directory.
fn hostile_set(root: &Path, runs: &[Run]) -> std::path::PathBuf {
    let mut m = manifest(
        "fuzz-set",
        "fuzz",
        vec![var("x", json!([1, 2]), None)],
        Vec::new(),
    );
    m.experiment_hash = format!(
        "{:016x}",
        mpf::internals::plan::fnv1a(EXPERIMENT.as_bytes())
    );
    let w = mpf::internals::store::writer::SetWriter::create(
        &root.join("results"),
        m,
        EXPERIMENT,
        None,
    )
    .unwrap();
    let set = w.dir().to_path_buf();
    drop(w);
    let mut journal = String::new();
    for (i, r) in runs.iter().enumerate() {
        let mut rec = record(i, json!({ "x": r.x }), 0, json!({"r": 1}));
        rec.steps[0].name = "s".into();
        rec.steps[0].role = r.role.clone();
        rec.steps[0].node = r.node.clone();
        if !r.ok {
            rec.status = mpf::internals::store::RunStatus::Failed;
            rec.extraction_failed = r.extraction_failed;
            rec.error = Some("it failed".into());
        }
        journal.push_str(&serde_json::to_string(&rec).unwrap());
        journal.push('\n');
        let run_dir = set.join(format!("runs/{i:04}"));
        std::fs::create_dir_all(&run_dir).unwrap();
        let role_dir = run_dir.join("client");
        if r.linked {
            std::os::unix::fs::symlink(root, &role_dir).unwrap();
            continue;
        }
        std::fs::create_dir_all(role_dir.join("sub")).unwrap();
        std::fs::write(role_dir.join("s.out"), r.stdout.join("\n")).unwrap();
        std::fs::write(role_dir.join("v.txt"), &r.file).unwrap();
        std::fs::write(role_dir.join("sub/w.txt"), &r.file).unwrap();
        std::fs::write(role_dir.join("c.csv"), &r.file).unwrap();
    }
    std::fs::write(set.join("journal.jsonl"), journal).unwrap();
    set
}

/// Every number in the results of a journal record.
fn numbers(v: &serde_json::Value) -> Vec<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64().into_iter().collect(),
        serde_json::Value::Array(a) => a.iter().flat_map(numbers).collect(),
        serde_json::Value::Object(o) => o.values().flat_map(numbers).collect(),
        _ => Vec::new(),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn hostile_sets_through_mpf_extract_never_panic_lose_a_run_or_read_outside(
        runs in prop::collection::vec(run(), 1..5),
        edits in prop::collection::vec(edit(), 0..3),
        edited in any::<bool>(),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        // What lies outside the set, where a hostile path would lead.
        for f in ["v.txt", "s.out", "c.csv"] {
            std::fs::write(root.join(f), "v 666\nr=666\nlat\n666\n").unwrap();
        }
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/w.txt"), "666").unwrap();
        let set = hostile_set(root, &runs);
        let text = if edited { apply(EXPERIMENT, &edits) } else { EXPERIMENT.to_string() };
        let path = root.join("edited.yaml");
        std::fs::write(&path, &text).unwrap();
        let exp = match mpf::internals::spec::parse_experiment(&path, &text) {
            Ok(exp) => exp,
            // Only a mutation may break the file: the property is about sets, not parsing.
            Err(e) => {
                prop_assert!(edited, "{}", e);
                return Ok(());
            }
        };
        let journal = set.join("journal.jsonl");
        let before = std::fs::read(&journal).unwrap();
        let new_source = edited.then_some(text.as_str());
        match mpf::internals::runner::reextract::reextract(&set, &exp, new_source) {
            Ok(done) => {
                prop_assert_eq!(done.runs, runs.len());
                let after = mpf::internals::store::resultset::read_journal(&journal).unwrap();
                prop_assert_eq!(after.len(), runs.len(), "every run kept");
                for (i, r) in after.iter().enumerate() {
                    prop_assert_eq!(r.index, i);
                    let read: Vec<f64> = numbers(&serde_json::to_value(&r.results).unwrap());
                    prop_assert!(
                        !read.contains(&666.0) && !read.contains(&0.666),
                        "run {} read outside the set: {:?}", i, r.results
                    );
                }
                prop_assert!(set.join("journal.1.jsonl").exists());
            }
            Err(_) => {
                prop_assert_eq!(std::fs::read(&journal).unwrap(), before, "a refusal changes nothing");
                prop_assert!(!set.join("journal.1.jsonl").exists());
            }
        }
    }
}
