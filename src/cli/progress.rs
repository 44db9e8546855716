//! The binary's reporter: a progress bar with ETA and the last run's results on a terminal,
//! plain log lines otherwise (or with `--quiet`), or one JSON object per event line for programs
//! that drive mpf (`--progress json`: the Python package). Every write ignores a closed stream.

use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mpf::runner::events::{Event, Reporter};
use mpf::store::RunStatus;
use serde_json::json;

use super::console;

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

    /// One event object on its own line: a reader splits stderr on newlines, and serde_json
    /// escapes every newline inside the strings.
    pub fn json(&self, value: serde_json::Value) {
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
        point: &str,
        status: RunStatus,
        results: &str,
        error: Option<&str>,
    ) {
        let Ok(mut s) = self.state.lock() else { return };
        s.done += 1;
        let state = match status {
            RunStatus::Ok => "ok".to_string(),
            RunStatus::Failed => format!("FAILED: {}", error.unwrap_or("")),
        };
        let sep = if results.is_empty() { "" } else { "  " };
        let line = format!("run {index:04} {point}: {state}{sep}{results}");
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
            error,
        } => {
            s.done += 1;
            json!({"event": "run", "index": index, "point": point, "ok": status == RunStatus::Ok,
                   "results": results, "error": error, "done": s.done, "total": s.total})
        }
        Event::Retrying {
            index,
            attempt,
            error,
        } => json!({"event": "retrying", "index": index, "attempt": attempt, "error": error}),
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
        Event::Limits { variable, limits } => json!({"event": "limits", "variable": variable,
            "lines": mpf::report::limits::lines(&variable, &limits)}),
        Event::Finished => json!({"event": "finished"}),
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
                error,
            } => self.finished(index, &point, status, &results, error.as_deref()),
            Event::Retrying {
                index,
                attempt,
                error,
            } => self.log(&format!(
                "run {index:04}: attempt {attempt} failed ({error}), retrying"
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
                for line in mpf::report::limits::lines(&variable, &limits) {
                    self.log(&line);
                }
            }
            Event::Finished => self.end(),
            Event::Note(n) => self.log(&n),
            Event::Warning(w) => self.log(&format!("warning: {w}")),
        }
    }
}
