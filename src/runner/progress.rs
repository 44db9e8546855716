//! Progress: a bar with ETA and the last point's results on a terminal, plain log lines
//! otherwise (or with `--quiet`).

use std::io::Write;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value};

use crate::store::{ResultInfo, RunStatus};
use crate::units;

pub struct Progress {
    bar: Option<ProgressBar>,
    total: usize,
    done: usize,
}

/// `parallel=2 zerocopy=enabled`, from display labels.
pub fn point_text(labels: &Map<String, Value>, constant: &dyn Fn(&str) -> bool) -> String {
    labels
        .iter()
        .filter(|(k, _)| !constant(k))
        .map(|(k, v)| match v {
            Value::Null => format!("{k}=-"),
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `goodput=9.41 Gbit/s`, for the declared results of a run (durations left out).
pub fn results_text(results: &Map<String, Value>, infos: &[ResultInfo]) -> String {
    let mut parts = Vec::new();
    for (k, v) in results {
        if k.ends_with(".duration") {
            continue;
        }
        let unit = infos
            .iter()
            .find(|i| &i.name == k)
            .map(|i| i.unit.as_str())
            .unwrap_or("");
        match v {
            Value::Number(n) => parts.push(format!(
                "{k}={}",
                units::humanise(n.as_f64().unwrap_or(f64::NAN), unit)
            )),
            Value::Array(a) => parts.push(format!("{k}=[{} values]", a.len())),
            _ => {}
        }
    }
    parts.join(" ")
}

impl Progress {
    pub fn new(total: usize, already: usize, interactive: bool) -> Progress {
        let bar = interactive.then(|| {
            let b = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} runs, ETA {eta}\n  {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b.set_position(already as u64);
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        Progress {
            bar,
            total,
            done: already,
        }
    }

    /// Reports a finished run.
    pub fn finished(
        &mut self,
        index: usize,
        point: &str,
        status: RunStatus,
        results: &str,
        error: Option<&str>,
    ) {
        self.done += 1;
        let state = match status {
            RunStatus::Ok => "ok".to_string(),
            RunStatus::Failed => format!("FAILED: {}", error.unwrap_or("")),
        };
        let line = format!(
            "run {index:04} {point}: {state}{}{}",
            if results.is_empty() { "" } else { "  " },
            results
        );
        match &self.bar {
            Some(b) => {
                b.set_position(self.done as u64);
                if status == RunStatus::Failed {
                    b.println(&line);
                }
                b.set_message(format!("last: {line}"));
            }
            None => {
                // One write per line: stderr is unbuffered, each format piece would be a syscall.
                let w = self.total.to_string().len();
                let text = format!("[{:>w$}/{}] {line}\n", self.done, self.total);
                let _ = std::io::stderr().write_all(text.as_bytes());
            }
        }
    }

    pub fn log(&self, msg: &str) {
        match &self.bar {
            Some(b) => b.println(msg),
            None => eprintln!("{msg}"),
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
