//! `--format samples`: one JSON object per line per run and result, in the manner of
//! PerfKit Benchmarker's samples (`pd.read_json(path, lines=True)` reads it).

use std::io::Write;

use super::dashboard::{Dashboard, Sample, SampleWriter};

/// `--format samples`.
pub(super) const EXPORTER: Dashboard = Dashboard {
    name: "samples",
    help: "One JSON object per line per run and result (several sets at once)",
    writer: || Box::new(Samples),
};

pub(super) struct Samples;

impl SampleWriter for Samples {
    fn sample(&mut self, s: &Sample, out: &mut dyn Write) -> std::io::Result<()> {
        let labels: serde_json::Map<String, serde_json::Value> = s
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        let line = serde_json::json!({
            "set": s.set, "experiment": s.experiment, "run": s.run,
            "repetition": s.repetition, "ok": s.ok, "result": s.result, "value": s.value,
            "unit": s.unit, "started": s.started, "labels": labels,
        });
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")
    }
}
