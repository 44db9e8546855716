//! `mpf extract`: the experiment's current `results:` applied again to the stored outputs of
//! every run of a set, without running anything, as a new generation of its journal.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::error::Result;
use crate::extract::{self, StoredStep};
use crate::runner::experiment::{add_result_infos, apply_outcome, probed_values};
use crate::runner::run::taken_names;
use crate::spec::Experiment;
use crate::store::layout::run_dir;
use crate::store::writer::Rewrite;
use crate::store::{resultset, Manifest, RunRecord, RunStatus};

/// What a re-extraction changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reextracted {
    /// The generation number the replaced files were kept under (`journal.N.jsonl`).
    pub generation: usize,
    pub runs: usize,
    pub ok: usize,
    pub failed: usize,
    /// Runs that had failed and are ok now (their results are found), by index.
    pub now_ok: Vec<usize>,
    /// Runs that were ok and failed now (a result is not found), by index.
    pub now_failed: Vec<usize>,
    /// The design's outcome (limits, convergence) was judged again from the new results.
    pub decided_again: bool,
    /// Conditions that could not be evaluated over the new results (counted as not met).
    pub warnings: Vec<String>,
}

/// Re-applies `exp`'s extractors to every run of the set in `dir`, under the set's lock.
/// `new_source`, when given, is the text of an edited experiment file: it replaces the stored
/// `experiment.yaml` (the old one kept with the generation), and the manifest's fingerprint
/// follows it, so that `--resume` continues with it.
pub fn reextract(dir: &Path, exp: &Experiment, new_source: Option<&str>) -> Result<Reextracted> {
    let rewrite = Rewrite::begin(dir)?;
    let mut manifest = resultset::read_manifest(rewrite.dir())?;
    // Not the file the set recorded: it must keep the set's variables (with its --set).
    crate::runner::session::replay_checked(&mut exp.clone(), &manifest, "be extracted again")?;
    let journal = rewrite.dir().join(crate::store::layout::JOURNAL);
    // A first pass over the journal (a run at a time, SPEC §15): every suffix a result may
    // have (the roles, the machines of roles of several, and both), and where each run is in
    // the file, which orders the results the runs add to the manifest as reading it whole did.
    let mut suffixes: HashSet<String> = HashSet::new();
    let mut file_order: HashMap<usize, u32> = HashMap::new();
    resultset::visit_journal(&journal, |r| {
        for s in &r.steps {
            if !suffixes.contains(&s.role) {
                suffixes.insert(s.role.clone());
            }
            if let Some(n) = &s.node {
                suffixes.insert(n.clone());
                suffixes.insert(format!("{}.{n}", s.role));
            }
        }
        let next = u32::try_from(file_order.len()).unwrap_or(u32::MAX);
        file_order.entry(r.index).or_insert(next);
    })?;
    let taken = taken_names(exp, suffixes.iter().map(String::as_str));
    // Declared as the runs name them: on a role of several machines, once per machine (the
    // set keeps the cluster file it ran with).
    let cluster_file = rewrite.dir().join(crate::store::layout::CLUSTER);
    let cluster = cluster_file
        .exists()
        .then(|| crate::spec::load_cluster(&cluster_file).ok())
        .flatten();
    manifest.results = match cluster {
        Some(c) => c.result_infos(exp),
        None => exp.result_infos(),
    };
    // Limits and convergence are a pure function of the journal: judged again from it.
    let mut effective = exp.clone();
    crate::runner::session::replay_overrides(&mut effective, &manifest.overrides)?;
    let mut plan = crate::plan::plan(&effective)?;
    let design = crate::design::Design::new(&effective, &plan);
    let mut kept = design.decides().then(crate::store::kept::Kept::default);
    let search = effective.search.as_ref().map(|s| s.variable);
    let finder = design
        .decides()
        .then(|| crate::plan::PointFinder::new(&plan, search));
    let mut out = Reextracted::default();
    // Results the declarations do not name, each with the first run (in the file) and the
    // place in its results that gave it, and whether that value was a list.
    let mut added: HashMap<String, (u32, usize, bool)> = HashMap::new();
    // The new generation is written a run at a time, in run order; the current files stay
    // the set's until it is complete.
    let mut new_journal = rewrite.new_journal()?;
    resultset::for_each_record(&journal, |rec| {
        let mut new = reextract_record(rewrite.dir(), exp, &manifest, &rec, &taken);
        // The samples of the series as now extracted (SPEC §17).
        if let Err(e) = crate::store::series::write_run(rewrite.dir(), &new, true) {
            new.notes.push(format!("series.csv not written: {e}"));
        }
        match (rec.status, new.status) {
            (RunStatus::Failed, RunStatus::Ok) => out.now_ok.push(rec.index),
            (RunStatus::Ok, RunStatus::Failed) => out.now_failed.push(rec.index),
            _ => {}
        }
        out.runs += 1;
        match new.status {
            RunStatus::Ok => out.ok += 1,
            _ => out.failed += 1,
        }
        let at = file_order.get(&rec.index).copied().unwrap_or(u32::MAX);
        for (i, (name, v)) in new.results.iter().enumerate() {
            if manifest.results.iter().any(|r| &r.name == name) {
                continue;
            }
            let first = added.entry(name.clone()).or_insert((at, i, v.is_array()));
            if (at, i) < (first.0, first.1) {
                *first = (at, i, v.is_array());
            }
        }
        if let (Some(kept), Some(finder)) = (kept.as_mut(), finder.as_ref()) {
            kept.push(&new, finder.find(&mut plan, &new.point));
        }
        new_journal.push(&new)
    })?;
    drop(file_order);
    let mut added: Vec<(String, (u32, usize, bool))> = added.into_iter().collect();
    added.sort_by_key(|(_, (at, i, _))| (*at, *i));
    for (name, (_, _, list)) in added {
        let value = match list {
            true => Value::Array(Vec::new()),
            false => Value::Null,
        };
        add_result_infos(exp, &mut manifest.results, &Map::from_iter([(name, value)]));
    }
    if let Some(kept) = kept {
        let outcome = design.outcome(&mut plan, &kept);
        out.warnings = outcome.warnings.clone();
        out.decided_again = true;
        let probed = probed_values(&manifest, &kept, &plan);
        apply_outcome(&mut manifest, probed, outcome);
    }
    manifest.runs_ok = out.ok;
    manifest.runs_failed = out.failed;
    manifest.plot = exp.plot.clone();
    if let Some(src) = new_source {
        manifest.experiment_hash = crate::runner::session::hash_text(src);
    }
    out.generation = rewrite.commit_journal(new_journal, &manifest, new_source)?;
    Ok(out)
}

/// The template context of a step of a stored run, as far as the set records it: the point,
/// its labels, the run, the experiment, the role and its run_dir (the collected copy; the
/// cluster's `roles` and `links` are not known here).
fn context(manifest: &Manifest, rec: &RunRecord, role: &str, dir: &Path) -> minijinja::Value {
    let mut ctx = rec.point.clone();
    let labels: Map<String, Value> = manifest
        .variables
        .iter()
        .filter_map(|v| {
            let value = rec.point.get(&v.name)?;
            Some((v.name.clone(), Value::String(v.label_of(value))))
        })
        .collect();
    ctx.insert("labels".into(), Value::Object(labels));
    ctx.insert(
        "run".into(),
        json!({"id": crate::store::layout::RunId(rec.index).to_string(), "index": rec.index, "repetition": rec.repetition}),
    );
    ctx.insert(
        "experiment".into(),
        json!({"id": manifest.id, "name": manifest.name}),
    );
    ctx.insert("role".into(), Value::String(role.to_string()));
    ctx.insert(
        "run_dir".into(),
        Value::String(dir.to_string_lossy().into_owned()),
    );
    minijinja::Value::from_serialize(&ctx)
}

/// One path component: not empty, `.` or `..`, no `/` or NUL.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

/// Notes of a run that extraction wrote (the others, such as output beyond the log limit,
/// stay with the run).
fn is_extraction_note(note: &str) -> bool {
    note.starts_with("mpf-result ") || note.starts_with("result '")
}

/// One run with its results extracted again. A run that failed for another reason than a
/// missing result keeps its status and error; the others are ok exactly when every declared
/// result is found now.
fn reextract_record(
    set_dir: &Path,
    exp: &Experiment,
    manifest: &Manifest,
    rec: &RunRecord,
    taken: &HashSet<String>,
) -> RunRecord {
    let run = run_dir(set_dir, rec.index);
    // Step wall times and monitoring summaries are measurements of the run, not
    // extractions: they stay.
    let mut all = extract::Extracted {
        values: rec
            .results
            .iter()
            .filter(|(k, _)| {
                crate::model::is_duration(k) || crate::monitor::result_info(k).is_some()
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        notes: rec
            .notes
            .iter()
            .filter(|n| !is_extraction_note(n))
            .cloned()
            .collect(),
        ..Default::default()
    };
    for sr in rec.steps.iter() {
        let Some(step) = exp.steps.iter().find(|s| s.name == sr.name) else {
            continue;
        };
        // The journal names the directory: a role or machine that is not one plain name
        // (`..`, `a/b`) would read outside the run.
        if let Some(bad) = std::iter::once(sr.role.as_str())
            .chain(sr.node.as_deref())
            .find(|n| !is_plain_name(n))
        {
            all.errors.push(format!(
                "step '{}': the journal names the directory {:?}, which is not a name in the run's directory; nothing read",
                step.name, bad
            ));
            continue;
        }
        // As the run named them.
        let suffix = extract::record_suffix(&rec.steps, sr);
        let dir = match &sr.node {
            Some(n) => run.join(format!("{}.{n}", sr.role)),
            None => run.join(&sr.role),
        };
        if let Some(link) = extract::linked_ancestor(&dir) {
            all.errors.push(format!(
                "step '{}': {} is a symbolic link, not the run's own directory; nothing read",
                step.name,
                link.display()
            ));
            continue;
        }
        let ctx = if extract::needs_context(&step.results) {
            context(manifest, rec, &sr.role, &dir)
        } else {
            minijinja::Value::UNDEFINED
        };
        let run_dir = dir.to_string_lossy().into_owned();
        let inputs = StoredStep::new(dir, &step.name, &sr.role, run_dir, ctx);
        all.absorb(
            &step.name,
            extract::extract(&inputs, &step.results, &suffix, taken),
        );
    }
    extract::across(&exp.steps, &rec.steps, &mut all.values, &mut all.errors);
    crate::spec::derived::evaluate(exp, &rec.point, &mut all.values, &mut all.errors);
    let may_change = rec.status == RunStatus::Ok || rec.extraction_failed;
    let (status, error, extraction_failed) = match (may_change, all.errors.is_empty()) {
        (false, _) => (rec.status, rec.error.clone(), false),
        (true, true) => (RunStatus::Ok, None, false),
        (true, false) => (RunStatus::Failed, Some(all.errors.join("; ")), true),
    };
    RunRecord {
        status,
        error,
        extraction_failed,
        results: all.values,
        notes: all.notes,
        warmup_dropped: all.warmup_dropped,
        ..rec.clone()
    }
}
