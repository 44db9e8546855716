//! The validated experiment (SPEC §2): what `plan` and `runner` consume.

use std::path::PathBuf;
use std::time::Duration;

use regex::Regex;
use serde_json::Value;

use crate::error::Location;
use crate::store::{Better, ResultInfo};

pub use super::raw::{OnFailure, Order, PlotHints, SamplingMethod};

/// A template string with the place it was written.
#[derive(Debug, Clone)]
pub struct Tpl {
    pub text: String,
    pub loc: Location,
}

#[derive(Debug, Clone)]
pub struct Variable {
    pub name: String,
    pub values: Vec<Value>,
    pub labels: Vec<String>,
    pub when: Option<String>,
    /// Values grow by a factor (plots use a log axis).
    pub geometric: bool,
    pub loc: Location,
}

impl Variable {
    pub fn is_constant(&self) -> bool {
        self.values.len() == 1 && self.when.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampling {
    pub method: SamplingMethod,
    pub count: usize,
}

/// Where a step runs: role names, each possibly a template (`"{{ node }}"`), or `all`.
#[derive(Debug, Clone)]
pub struct RoleSel {
    pub names: Vec<String>,
    pub loc: Location,
}

impl RoleSel {
    pub fn is_templated(&self) -> bool {
        self.names
            .iter()
            .any(|n| n.contains("{{") || n.contains("{%"))
    }
}

/// Role used by steps that name none: the machine mpf runs on.
pub const DEFAULT_ROLE: &str = "local";

/// Why `name` cannot name a role, if it cannot. A role name becomes a directory of the
/// result set (`runs/NNNN/<role>`) and of the machine, and a result suffix (`rps.<role>`):
/// letters, digits, `_` and `-`, starting with a letter or `_` (as a variable name, plus `-`
/// for the original mpf's cluster files), so that it is never a path, an option or two words.
pub fn role_name_problem(name: &str) -> Option<String> {
    if name == "all" {
        return Some("'all' means every role and cannot name one".into());
    }
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok && name.len() <= MAX_NAME_LEN {
        return None;
    }
    Some(format!(
        "'{}' is not a valid role name (letters, digits, _ and -, starting with a letter or _, at most {MAX_NAME_LEN} characters)",
        super::de::shown(name)
    ))
}

/// The longest role name: it becomes a file name and part of column names.
pub const MAX_NAME_LEN: usize = 64;

#[derive(Debug, Clone)]
pub enum Ready {
    Port {
        port: u16,
        host: Option<String>,
        timeout: Duration,
    },
    Log {
        pattern: Regex,
        timeout: Duration,
    },
}

#[derive(Debug, Clone)]
pub enum ExtractKind {
    Regex { re: Regex, all: bool },
    Json { path: Vec<String> },
}

#[derive(Debug, Clone)]
pub struct Extractor {
    pub name: String,
    pub kind: ExtractKind,
    pub unit: Option<String>,
    pub better: Better,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub role: RoleSel,
    pub run: Tpl,
    pub background: bool,
    pub delay: Duration,
    pub timeout: Duration,
    pub ready: Option<Ready>,
    pub results: Vec<Extractor>,
    pub loc: Location,
}

#[derive(Debug, Clone)]
pub struct Sync {
    pub from: String,
    pub to: String,
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Packages {
    pub apt: Vec<String>,
    pub dnf: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct SetupStep {
    pub role: RoleSel,
    pub sync: Option<Sync>,
    pub packages: Option<Packages>,
    pub run: Option<Tpl>,
    pub timeout: Duration,
    pub loc: Location,
}

#[derive(Debug, Clone)]
pub struct FileSpec {
    pub role: RoleSel,
    pub path: Tpl,
    pub content: Tpl,
}

#[derive(Debug, Clone)]
pub struct Experiment {
    pub path: PathBuf,
    pub source: String,
    pub name: String,
    pub description: String,
    pub runs: usize,
    pub order: Order,
    pub seed: String,
    pub variables: Vec<Variable>,
    /// Groups of variable indices that advance together.
    pub zips: Vec<Vec<usize>>,
    pub sampling: Sampling,
    pub setup: Vec<SetupStep>,
    pub steps: Vec<Step>,
    pub teardown: Vec<Step>,
    pub files: Vec<FileSpec>,
    pub retries: u32,
    pub on_failure: OnFailure,
    pub plot: Option<PlotHints>,
    /// Grace period between TERM and KILL when stopping processes.
    pub kill_grace: Duration,
}

impl Experiment {
    pub fn variable(&self, name: &str) -> Option<&Variable> {
        self.variables.iter().find(|v| v.name == name)
    }

    /// Every role selector, in the order of the file's sections: steps, teardown, setup, files.
    pub fn role_sels(&self) -> impl Iterator<Item = &RoleSel> {
        self.steps
            .iter()
            .chain(&self.teardown)
            .map(|s| &s.role)
            .chain(self.setup.iter().map(|s| &s.role))
            .chain(self.files.iter().map(|f| &f.role))
    }

    /// The roles one selector can stand for: its literal names (`all` excluded) and, for a
    /// templated name, the values of the variables it names.
    pub fn sel_roles(&self, sel: &RoleSel) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut add = |r: String| {
            if !out.contains(&r) {
                out.push(r);
            }
        };
        for n in &sel.names {
            if !n.contains("{{") {
                if n != "all" {
                    add(n.clone());
                }
                continue;
            }
            for v in self.variables.iter().filter(|v| n.contains(&v.name)) {
                v.values
                    .iter()
                    .for_each(|val| add(crate::store::value_text(val)));
            }
        }
        out
    }

    /// Every role a step, file or setup entry can run as: literal names first, then the
    /// values of variables that templated role fields name.
    pub fn possible_roles(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let literal = self.role_sels().filter(|s| !s.is_templated());
        let templated = self.role_sels().filter(|s| s.is_templated());
        for sel in literal.chain(templated) {
            for r in self.sel_roles(sel) {
                if !out.contains(&r) {
                    out.push(r);
                }
            }
        }
        out
    }

    /// Results the experiment produces, in declaration order, with per-step durations.
    pub fn result_infos(&self) -> Vec<ResultInfo> {
        let mut out = Vec::new();
        for s in &self.steps {
            let multi = s.role.names.len() > 1 || s.role.names.iter().any(|n| n == "all");
            for e in &s.results {
                let unit = e.unit.clone().unwrap_or_default();
                let series = matches!(e.kind, ExtractKind::Regex { all: true, .. });
                if multi && !s.role.is_templated() {
                    for r in s.role.names.iter().filter(|n| *n != "all") {
                        out.push(ResultInfo {
                            name: format!("{}.{r}", e.name),
                            unit: unit.clone(),
                            better: e.better,
                            series,
                        });
                    }
                } else {
                    out.push(ResultInfo {
                        name: e.name.clone(),
                        unit,
                        better: e.better,
                        series,
                    });
                }
            }
        }
        for s in &self.steps {
            if !s.background {
                out.push(ResultInfo {
                    name: format!("{}.duration", s.name),
                    unit: "s".into(),
                    better: Better::Lower,
                    series: false,
                });
            }
        }
        out
    }
}
