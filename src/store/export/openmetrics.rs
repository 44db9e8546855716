//! `--format openmetrics`: OpenMetrics text, one family `mpf_result` (a gauge) with a
//! sample per run and result, timestamps in seconds, ending with `# EOF`, as
//! `promtool tsdb create-blocks-from openmetrics` reads it.
//!
//! One family rather than one per result: the families of OpenMetrics must not interleave,
//! and one family lets every set be streamed run by run; the result is the `result` label
//! (`mpf_result{result="goodput"}` in PromQL).

use std::io::Write;

use super::dashboard::{label_names, Dashboard, Sample, SampleWriter, SetInfo};

/// `--format openmetrics`.
pub(super) const EXPORTER: Dashboard = Dashboard {
    name: "openmetrics",
    help: "OpenMetrics text, one sample per run and result (several sets at once)",
    writer: || Box::new(OpenMetrics::default()),
};

const TAKEN: [&str; 7] = [
    "set",
    "experiment",
    "result",
    "unit",
    "ok",
    "run",
    "repetition",
];

#[derive(Default)]
pub(super) struct OpenMetrics {
    keys: Vec<(String, String)>,
    started: bool,
    line: String,
}

impl OpenMetrics {
    fn header(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        if !self.started {
            self.started = true;
            out.write_all(
                b"# TYPE mpf_result gauge\n# HELP mpf_result One result of one run recorded by mpf.\n",
            )?;
        }
        Ok(())
    }
}

impl SampleWriter for OpenMetrics {
    fn begin_set(&mut self, set: &SetInfo, out: &mut dyn Write) -> std::io::Result<()> {
        let clean = label_names(&set.label_names, &TAKEN);
        self.keys = set.label_names.iter().cloned().zip(clean).collect();
        self.header(out)
    }

    fn sample(&mut self, s: &Sample, out: &mut dyn Write) -> std::io::Result<()> {
        let (Some(value), Some(ns)) = (s.value, s.started_ns) else {
            return Ok(());
        };
        let line = &mut self.line;
        line.clear();
        line.push_str("mpf_result{");
        let (run, rep) = (s.run.to_string(), s.repetition.to_string());
        let fixed = [
            ("set", s.set),
            ("experiment", s.experiment),
            ("result", s.result),
            ("unit", s.unit),
            ("ok", if s.ok { "true" } else { "false" }),
            ("run", run.as_str()),
            ("repetition", rep.as_str()),
        ];
        let vars = s.labels.iter().filter_map(|(name, v)| {
            let key = self.keys.iter().find(|(n, _)| n == name)?;
            Some((key.1.as_str(), v.as_str()))
        });
        for (i, (k, v)) in fixed.into_iter().chain(vars).enumerate() {
            if i > 0 {
                line.push(',');
            }
            line.push_str(k);
            line.push_str("=\"");
            for c in v.chars() {
                match c {
                    '\\' => line.push_str("\\\\"),
                    '"' => line.push_str("\\\""),
                    '\n' => line.push_str("\\n"),
                    c => line.push(c),
                }
            }
            line.push('"');
        }
        use std::fmt::Write as _;
        let secs = ns.div_euclid(1_000_000_000);
        let frac = ns.rem_euclid(1_000_000_000) / 1_000_000;
        let _ = writeln!(line, "}} {value:?} {secs}.{frac:03}");
        out.write_all(line.as_bytes())
    }

    fn end(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        self.header(out)?;
        out.write_all(b"# EOF\n")
    }
}
