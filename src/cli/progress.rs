//! The binary's reporter: a progress bar with ETA and the last run's results on a terminal,
//! plain log lines otherwise (or with `--quiet`), or one JSON object per event line for programs
//! that drive mpf (`--progress json`: the Python package). Every write ignores a closed stream.

use mpf::layout::RunId;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mpf::events::{Event, Failure, FailureKind, Reporter};
use mpf::RunStatus;
use mpf::{point_values_text, run_results_text, Measured, PointValue, RunResult};
use serde_json::json;

use super::console;

/// The version of the `--progress json` event stream (docs/cli.md): raised when a field
/// changes meaning or goes away, not when one is added.
pub const JSON_FORMAT: u32 = 1;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Bar,
    Plain,
    Json,
}

pub struct Terminal {
    style: Style,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    bar: Option<ProgressBar>,
    total: usize,
    done: usize,
}

impl Terminal {
    pub fn new(style: Style) -> Self {
        Terminal {
            style,
            state: Mutex::new(State::default()),
        }
    }

    pub fn is_json(&self) -> bool {
        self.style == Style::Json
    }

    /// One event object on its own line, with the stream's `format`: a reader splits stderr on
    /// newlines, and serde_json escapes every newline inside the strings.
    pub fn json(&self, mut value: serde_json::Value) {
        if let Some(o) = value.as_object_mut() {
            o.insert("format".into(), json!(JSON_FORMAT));
        }
        console::err(&value.to_string());
    }

    /// A line above the bar (or on its own without one); a `note` event in JSON.
    pub fn log(&self, msg: &str) {
        if self.is_json() {
            return self.json(json!({"event": "note", "message": msg.trim_start()}));
        }
        match self.state.lock().ok().and_then(|s| s.bar.clone()) {
            Some(b) => b.println(msg),
            None => console::err(msg),
        }
    }

    fn start(&self, total: usize, already: usize) {
        let Ok(mut s) = self.state.lock() else { return };
        s.total = total;
        s.done = already;
        if self.style != Style::Bar {
            return;
        }
        let b = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} runs, ETA {eta} {prefix}\n  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        b.set_position(already as u64);
        b.enable_steady_tick(Duration::from_millis(200));
        s.bar = Some(b);
    }

    fn finished(
        &self,
        index: usize,
        point: &[PointValue],
        status: RunStatus,
        results: &[RunResult],
        failure: Option<&Failure>,
    ) {
        let Ok(mut s) = self.state.lock() else { return };
        s.done += 1;
        let state = match status {
            RunStatus::Ok => "ok".to_string(),
            RunStatus::Failed => {
                format!(
                    "FAILED: {}",
                    failure.map(|f| f.message.as_str()).unwrap_or("")
                )
            }
        };
        let (point, results) = (point_values_text(point), run_results_text(results));
        let sep = if results.is_empty() { "" } else { "  " };
        let line = format!("run {} {point}: {state}{sep}{results}", RunId(index));
        match &s.bar {
            Some(b) => {
                b.set_position(s.done as u64);
                if status == RunStatus::Failed {
                    b.println(&line);
                }
                b.set_message(format!("last: {line}"));
            }
            None => {
                let w = s.total.to_string().len();
                console::err(&format!("[{:>w$}/{}] {line}", s.done, s.total));
            }
        }
    }

    /// A new round: more runs asked for, and what the design is doing.
    fn round(&self, total: usize, status: Option<String>) {
        let Ok(mut s) = self.state.lock() else { return };
        s.total = total.max(s.done);
        match &s.bar {
            Some(b) => {
                b.set_length(s.total as u64);
                b.set_prefix(status.unwrap_or_default());
            }
            None => {
                if let Some(st) = status {
                    console::err(&st);
                }
            }
        }
    }

    fn end(&self) {
        if let Ok(mut s) = self.state.lock() {
            if let Some(b) = s.bar.take() {
                b.finish_and_clear();
            }
        }
    }
}

/// A number, or null when it is not finite (JSON has no NaN).
fn json_number(x: f64) -> serde_json::Value {
    serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// `{"name", "unit", "value"}` for a number, `{"name", "unit", "series"}` for a series, with
/// `text` as the plain line shows it.
fn json_result(r: &RunResult) -> serde_json::Value {
    let mut o = json!({"name": r.name, "unit": r.unit, "text": r.text()});
    match &r.value {
        Measured::Number(x) => o["value"] = json_number(*x),
        Measured::Series(v) => {
            o["series"] = serde_json::Value::Array(v.iter().map(|x| json_number(*x)).collect())
        }
    }
    o
}

/// `{"kind", "message"}` and the kind's own fields (`step`, `code`, `machine`).
fn json_failure(f: &Failure) -> serde_json::Value {
    let mut o = json!({"kind": f.kind_name(), "message": f.message});
    match &f.kind {
        FailureKind::Spawn { step }
        | FailureKind::Timeout { step }
        | FailureKind::Ready { step } => o["step"] = json!(step),
        FailureKind::Exit { step, code } => {
            o["step"] = json!(step);
            o["code"] = json!(code);
        }
        FailureKind::MachineLost { machine } => o["machine"] = json!(machine),
        FailureKind::Prepare
        | FailureKind::Extraction
        | FailureKind::Collection
        | FailureKind::Storage
        | FailureKind::Interrupted
        | FailureKind::Switch => {}
    }
    o
}

/// The JSON object of an event; `done`/`total` count runs as the bar does.
fn json_event(s: &mut State, event: Event) -> serde_json::Value {
    match event {
        Event::Started { total, already } => {
            s.total = total;
            s.done = already;
            json!({"event": "started", "total": total, "already": already})
        }
        Event::RunFinished {
            index,
            point,
            status,
            results,
            failure,
        } => {
            s.done += 1;
            let labels: serde_json::Map<String, serde_json::Value> = point
                .iter()
                .map(|p| (p.name.clone(), json!(p.label)))
                .collect();
            let point: serde_json::Map<String, serde_json::Value> =
                point.into_iter().map(|p| (p.name, p.value)).collect();
            let results: Vec<_> = results.iter().map(json_result).collect();
            json!({"event": "run", "index": index, "point": point, "labels": labels,
                   "ok": status == RunStatus::Ok,
                   "results": results, "failure": failure.as_ref().map(json_failure),
                   "done": s.done, "total": s.total})
        }
        Event::Retrying {
            index,
            attempt,
            failure,
        } => json!({"event": "retrying", "index": index, "attempt": attempt,
                    "failure": json_failure(&failure)}),
        Event::Machine {
            phase,
            machine,
            ok,
            seconds,
        } => json!({"event": phase.name(), "machine": machine, "ok": ok, "seconds": seconds}),
        Event::Round { total, status } => {
            s.total = total.max(s.done);
            json!({"event": "round", "total": s.total, "status": status})
        }
        Event::Limits { variable, limits } => {
            let lines = mpf::limits::lines(&variable, &limits);
            json!({"event": "limits", "variable": variable, "limits": limits, "lines": lines})
        }
        Event::Finished => json!({"event": "finished"}),
        Event::Block {
            variable,
            value,
            label,
            number,
            of,
        } => json!({"event": "block", "variable": variable, "value": value, "label": label,
                    "number": number, "of": of}),
        Event::Note(n) => json!({"event": "note", "message": n}),
        Event::Warning(w) => json!({"event": "warning", "message": w}),
    }
}

impl Reporter for Terminal {
    fn event(&self, event: Event) {
        if self.is_json() {
            let value = match self.state.lock() {
                Ok(mut s) => json_event(&mut s, event),
                Err(_) => return,
            };
            return self.json(value);
        }
        match event {
            Event::Started { total, already } => self.start(total, already),
            Event::RunFinished {
                index,
                point,
                status,
                results,
                failure,
            } => self.finished(index, &point, status, &results, failure.as_ref()),
            Event::Retrying {
                index,
                attempt,
                failure,
            } => self.log(&format!(
                "run {}: attempt {attempt} failed ({failure}), retrying",
                RunId(index)
            )),
            Event::Machine {
                phase,
                machine,
                ok,
                seconds,
            } => self.log(&format!(
                "{} {machine}: {} in {seconds:.1}s",
                phase.name(),
                if ok { "ok" } else { "FAILED" }
            )),
            Event::Round { total, status } => self.round(total, status),
            Event::Limits { variable, limits } => {
                for line in mpf::limits::lines(&variable, &limits) {
                    self.log(&line);
                }
            }
            Event::Finished => self.end(),
            Event::Block {
                variable,
                label,
                number,
                of,
                ..
            } => self.log(&format!(
                "block {number} of {of}: switching to {variable} = {label}"
            )),
            Event::Note(n) => self.log(&n),
            Event::Warning(w) => self.log(&format!("warning: {w}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mpf::Measured;

    #[test]
    fn failures_carry_their_kind_and_its_fields() {
        let exit = Failure::new(
            FailureKind::Exit {
                step: "client".into(),
                code: None,
            },
            "step 'client' on local was killed",
        );
        assert_eq!(
            json_failure(&exit),
            json!({"kind": "exit", "message": "step 'client' on local was killed",
                   "step": "client", "code": null})
        );
        let lost = Failure::new(
            FailureKind::MachineLost {
                machine: "node2".into(),
            },
            "machine node2 stopped answering",
        );
        assert_eq!(json_failure(&lost)["kind"], "machine_lost");
        assert_eq!(json_failure(&lost)["machine"], "node2");
        let storage = json_failure(&Failure::new(FailureKind::Storage, "disk full"));
        assert_eq!(storage, json!({"kind": "storage", "message": "disk full"}));
    }

    #[test]
    fn results_are_numbers_and_a_non_finite_one_is_null() {
        let r = RunResult {
            name: "rate".into(),
            value: Measured::Number(f64::NAN),
            unit: "bit/s".into(),
        };
        assert_eq!(json_result(&r)["value"], serde_json::Value::Null);
        let s = RunResult {
            name: "lat".into(),
            value: Measured::Series(vec![0.5, f64::INFINITY]),
            unit: "s".into(),
        };
        assert_eq!(
            json_result(&s),
            json!({"name": "lat", "unit": "s", "text": "lat=[2 values]", "series": [0.5, null]})
        );
    }
}
