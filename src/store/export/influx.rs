//! `--format influx`: InfluxDB line protocol, one line per run and result:
//! `mpf,set=ID,experiment=NAME,result=R,unit=U,VAR=VALUE... value=1.5,ok=true,run=3i,repetition=0i NS`.

use std::io::Write;

use super::dashboard::{label_names, Dashboard, Sample, SampleWriter, SetInfo};

/// `--format influx`.
pub(super) const EXPORTER: Dashboard = Dashboard {
    name: "influx",
    help: "InfluxDB line protocol, one line per run and result (several sets at once)",
    writer: || Box::new(Influx::default()),
};

/// Tag and field keys of every line; a variable with one of these names is renamed.
const TAKEN: [&str; 9] = [
    "set",
    "experiment",
    "result",
    "unit",
    "value",
    "ok",
    "run",
    "repetition",
    "time",
];

#[derive(Default)]
pub(super) struct Influx {
    /// The tag key of each label of the current set, by the label's name.
    keys: Vec<(String, String)>,
    line: String,
}

impl SampleWriter for Influx {
    fn begin_set(&mut self, set: &SetInfo, _out: &mut dyn Write) -> std::io::Result<()> {
        let clean = label_names(&set.label_names, &TAKEN);
        self.keys = set.label_names.iter().cloned().zip(clean).collect();
        Ok(())
    }

    fn sample(&mut self, s: &Sample, out: &mut dyn Write) -> std::io::Result<()> {
        // A line needs a field value and a time: a run without this result has no line.
        let (Some(value), Some(ns)) = (s.value, s.started_ns) else {
            return Ok(());
        };
        let line = &mut self.line;
        line.clear();
        line.push_str("mpf");
        let fixed = [
            ("set", s.set),
            ("experiment", s.experiment),
            ("result", s.result),
            ("unit", s.unit),
        ];
        let vars = s.labels.iter().filter_map(|(name, v)| {
            let key = self.keys.iter().find(|(n, _)| n == name)?;
            Some((key.1.as_str(), v.as_str()))
        });
        for (k, v) in fixed.into_iter().chain(vars) {
            // The protocol has no empty tag value: such a tag is left out.
            if v.is_empty() {
                continue;
            }
            line.push(',');
            escape(line, k);
            line.push('=');
            escape(line, v);
        }
        use std::fmt::Write as _;
        let _ = writeln!(
            line,
            " value={},ok={},run={}i,repetition={}i {ns}",
            float(value),
            s.ok,
            s.run,
            s.repetition
        );
        out.write_all(line.as_bytes())
    }
}

/// Tag keys and values: `,`, `=` and space escaped with `\`; a line break or other control
/// character (which the protocol cannot carry) becomes a space; a trailing `\` gets a space
/// so that it escapes nothing.
fn escape(line: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            ',' | '=' | ' ' => {
                line.push('\\');
                line.push(c);
            }
            c if c.is_control() => line.push_str("\\ "),
            c => line.push(c),
        }
    }
    if text.ends_with('\\') {
        line.push_str("\\ ");
    }
}

/// A float field: always with a decimal point or exponent so that it is never read as an
/// integer column.
fn float(v: f64) -> String {
    format!("{v:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_escaped_and_floats_stay_floats() {
        let mut s = String::new();
        escape(&mut s, "a b,c=d\ne\\");
        assert_eq!(s, "a\\ b\\,c\\=d\\ e\\\\ ");
        assert_eq!(float(3.0), "3.0");
        assert_eq!(float(1e300), "1e300");
    }
}
