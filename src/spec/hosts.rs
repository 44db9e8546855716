//! `hosts:` and `roles:` of the cluster file (SPEC 14.1): where machines come from and which
//! roles they bear. Checked here, at load, without running anything; `crate::hosts` resolves
//! them into machines when a run is prepared.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use super::cluster::{host_problem, identity_problem, user_problem, DEFAULT_MAX_SESSIONS};
use super::de::{pos, shown, OneOrMany, OrderedMap, ScalarText};
use crate::error::{Error, Result};
use crate::spec::role_name_problem;

/// The host sources `from:` names, in the order messages list them: what each reads at load.
/// Reading the hosts is `crate::hosts` (one file per source there, registered in
/// `hosts::sources::SOURCES`); a new source is one line here and one there.
pub(crate) static SOURCE_KINDS: &[SourceKind] = &[
    SourceKind {
        slurm: true,
        ..SourceKind::reads("slurm", SourceKey::Job, false)
    },
    SourceKind::reads("oar", SourceKey::File, false),
    SourceKind::reads("pbs", SourceKey::File, false),
    SourceKind::reads("file", SourceKey::File, true),
    SourceKind {
        groups: true,
        ..SourceKind::reads("ansible", SourceKey::Inventory, true)
    },
    SourceKind::reads("list", SourceKey::List, true),
    SourceKind::reads("command", SourceKey::Command, true),
];

/// Where the hosts come from: one entry of [`SOURCE_KINDS`].
#[derive(Debug, PartialEq, Eq)]
pub struct SourceKind {
    pub name: &'static str,
    /// The key of `hosts:` the source reads, and whether it must be given.
    pub key: SourceKey,
    pub required: bool,
    /// The hosts are a Slurm job's: `transport: srun` reaches them, the job is recorded.
    pub slurm: bool,
    /// The hosts are in groups that roles may name (`{group: G}`), so `roles:` may be left
    /// out and the roles are checked once the groups are read.
    pub groups: bool,
}

/// The source-specific keys of `hosts:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKey {
    Job,
    File,
    Inventory,
    List,
    Command,
}

impl SourceKey {
    const ALL: [SourceKey; 5] = [
        SourceKey::Job,
        SourceKey::File,
        SourceKey::Inventory,
        SourceKey::List,
        SourceKey::Command,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SourceKey::Job => "job",
            SourceKey::File => "file",
            SourceKey::Inventory => "inventory",
            SourceKey::List => "list",
            SourceKey::Command => "command",
        }
    }
}

impl SourceKind {
    /// A source that reads `key` (required or not), with no Slurm job and no groups.
    const fn reads(name: &'static str, key: SourceKey, required: bool) -> SourceKind {
        SourceKind {
            name,
            key,
            required,
            slurm: false,
            groups: false,
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// The names of the sources with a property, as a message lists them (`slurm`).
fn kinds_where(has: impl Fn(&SourceKind) -> bool, word: &str) -> String {
    let names: Vec<&str> = SOURCE_KINDS
        .iter()
        .filter(|k| has(k))
        .map(|k| k.name)
        .collect();
    crate::words::list(&names, word)
}

/// A checked `hosts:` section.
#[derive(Debug, Clone, PartialEq)]
pub struct HostSource {
    pub kind: &'static SourceKind,
    /// slurm: the job id as written (else `$SLURM_JOB_ID` when resolved).
    pub job: Option<String>,
    /// file, oar, pbs: the node file (relative to the cluster file's directory).
    pub file: Option<PathBuf>,
    /// ansible: the inventory given to `ansible-inventory -i`.
    pub inventory: Option<PathBuf>,
    /// list: the hostlist expression.
    pub list: Option<String>,
    /// command: the `sh -c` script that prints one host per line.
    pub command: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity: Option<String>,
    pub ssh_options: Vec<String>,
    pub max_sessions: usize,
    /// `transport: srun` (slurm only).
    pub srun: bool,
    /// `unreachable: drop`: hosts whose connection fails are left out before roles are
    /// assigned.
    pub drop_unreachable: bool,
    /// Line of `hosts:` in the cluster file.
    pub line: u64,
}

/// How a role of `roles:` picks its hosts.
#[derive(Debug, Clone, PartialEq)]
pub enum RoleRule {
    /// The next N hosts no other role took.
    Count(usize),
    /// The hosts no other role took.
    Rest,
    /// The hosts of a hostlist expression (which must all be in the source).
    Hostlist(String),
    /// The hosts of an Ansible inventory group.
    Group(String),
}

/// One role of `roles:`, where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleSpec {
    pub name: String,
    pub rule: RoleRule,
    pub line: u64,
    pub column: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHosts {
    from: Spanned<String>,
    job: Option<Spanned<ScalarText>>,
    file: Option<Spanned<String>>,
    inventory: Option<Spanned<String>>,
    list: Option<Spanned<String>>,
    command: Option<Spanned<String>>,
    user: Option<Spanned<String>>,
    port: Option<Spanned<u16>>,
    identity: Option<Spanned<String>>,
    #[serde(default)]
    ssh_options: OneOrMany,
    max_sessions: Option<Spanned<i64>>,
    transport: Option<Spanned<String>>,
    unreachable: Option<Spanned<String>>,
}

/// The raw `roles:` section: role name -> a count, `rest`, a hostlist or `{group: G}`.
pub(super) type RawRoles = OrderedMap<Spanned<Value>>;

/// The longest `command:` or path accepted.
const MAX_TEXT: usize = 4096;

fn at<T>(path: &Path, v: &Spanned<T>, message: impl Into<String>) -> Error {
    let (l, c) = pos(v);
    Error::input(path, l, c, message)
}

fn text_value(path: &Path, v: &Spanned<String>, key: &str) -> Result<String> {
    let t = v.value.trim();
    if t.is_empty() || t.len() > MAX_TEXT || t.contains('\0') {
        return Err(at(
            path,
            v,
            format!("hosts: {key} must be a non-empty text of at most {MAX_TEXT} bytes"),
        ));
    }
    Ok(t.to_string())
}

/// A path relative to the cluster file's directory.
fn relative_to(path: &Path, file: &str) -> PathBuf {
    let p = Path::new(file);
    match path.parent() {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p.to_path_buf(),
    }
}

/// Checks `hosts:`.
pub(super) fn parse_hosts(path: &Path, raw: &Spanned<RawHosts>) -> Result<HostSource> {
    let r = &raw.value;
    let kind = SOURCE_KINDS
        .iter()
        .find(|k| k.name == r.from.value)
        .ok_or_else(|| {
            at(
                path,
                &r.from,
                format!(
                    "hosts: from '{}' is not a host source ({})",
                    shown(&r.from.value),
                    kinds_where(|_| true, "or")
                ),
            )
        })?;
    // Each key belongs to some sources: a key another source reads is a mistake worth naming.
    let given = |key: SourceKey| -> Option<(u64, u64)> {
        match key {
            SourceKey::Job => r.job.as_ref().map(pos),
            SourceKey::File => r.file.as_ref().map(pos),
            SourceKey::Inventory => r.inventory.as_ref().map(pos),
            SourceKey::List => r.list.as_ref().map(pos),
            SourceKey::Command => r.command.as_ref().map(pos),
        }
    };
    for key in SourceKey::ALL {
        if let (Some((l, c)), false) = (given(key), key == kind.key) {
            return Err(Error::input(
                path,
                l,
                c,
                format!(
                    "hosts: '{}' has no meaning with from: {}",
                    key.name(),
                    kind.name()
                ),
            ));
        }
    }
    if kind.required && given(kind.key).is_none() {
        return Err(at(
            path,
            raw,
            format!("hosts: from: {} needs '{}:'", kind.name(), kind.key.name()),
        ));
    }
    let job = match &r.job {
        Some(j) => {
            if !slurm_job_ok(&j.value.0) {
                return Err(at(
                    path,
                    j,
                    format!(
                        "hosts: job '{}' is not a Slurm job id (digits, or an array or het job like 12_3, 12+1)",
                        shown(&j.value.0)
                    ),
                ));
            }
            Some(j.value.0.clone())
        }
        None => None,
    };
    let list = match &r.list {
        Some(l) => {
            let text = text_value(path, l, "list")?;
            crate::spec::hostlist::expand(&text).map_err(|e| at(path, l, e))?;
            Some(text)
        }
        None => None,
    };
    let srun = match &r.transport {
        None => false,
        Some(t) => match (t.value.as_str(), kind) {
            ("ssh", _) => false,
            ("srun", k) if k.slurm => true,
            ("srun", _) => {
                return Err(at(
                    path,
                    t,
                    format!(
                        "hosts: transport: srun reaches the nodes of a Slurm job: it needs from: {}, not from: {}",
                        kinds_where(|k| k.slurm, "or"),
                        kind.name()
                    ),
                ))
            }
            (other, _) => {
                return Err(at(
                    path,
                    t,
                    format!(
                        "hosts: transport '{}' must be ssh or srun",
                        shown(other)
                    ),
                ))
            }
        },
    };
    let drop_unreachable = match &r.unreachable {
        None => false,
        Some(u) => match u.value.as_str() {
            "fail" => false,
            "drop" => true,
            other => {
                return Err(at(
                    path,
                    u,
                    format!("hosts: unreachable '{}' must be fail or drop", shown(other)),
                ))
            }
        },
    };
    let checked = |v: &Option<Spanned<String>>, problem: fn(&str) -> Option<String>| {
        v.as_ref()
            .map(|v| match problem(&v.value) {
                None => Ok(v.value.trim().to_string()),
                Some(m) => Err(at(path, v, m)),
            })
            .transpose()
    };
    let max_sessions = super::cluster::count_in(
        path,
        r.max_sessions.as_ref(),
        "max_sessions",
        DEFAULT_MAX_SESSIONS,
        super::cluster::MAX_SESSIONS_LIMIT,
    )?;
    let port = match &r.port {
        Some(p) if p.value == 0 => return Err(at(path, p, "port must be between 1 and 65535")),
        p => p.as_ref().map(|p| p.value),
    };
    Ok(HostSource {
        kind,
        job,
        file: r
            .file
            .as_ref()
            .map(|f| text_value(path, f, "file").map(|t| relative_to(path, &t)))
            .transpose()?,
        inventory: r
            .inventory
            .as_ref()
            .map(|f| text_value(path, f, "inventory").map(|t| relative_to(path, &t)))
            .transpose()?,
        list,
        command: r
            .command
            .as_ref()
            .map(|c| text_value(path, c, "command"))
            .transpose()?,
        user: checked(&r.user, user_problem)?,
        port,
        identity: checked(&r.identity, identity_problem)?,
        ssh_options: r.ssh_options.0.clone(),
        max_sessions,
        srun,
        drop_unreachable,
        line: raw.referenced.line(),
    })
}

/// Checks `roles:` against the source they pick from.
pub(super) fn parse_roles(
    path: &Path,
    raw: &RawRoles,
    source: Option<&HostSource>,
) -> Result<Vec<RoleSpec>> {
    let mut out: Vec<RoleSpec> = Vec::new();
    for (name, value) in &raw.0 {
        let (line, column) = pos(name);
        let Some(source) = source else {
            return Err(Error::input(
                path,
                line,
                column,
                "roles: assigns the hosts of a hosts: section, and this file has none (bind roles of machines: with role:)",
            ));
        };
        if let Some(problem) = role_name_problem(&name.value) {
            return Err(Error::input(path, line, column, problem));
        }
        if out.iter().any(|r| r.name == name.value) {
            return Err(Error::input(
                path,
                line,
                column,
                format!("roles: '{}' is given twice", name.value),
            ));
        }
        let bad = |why: &str| {
            at(
                path,
                value,
                format!(
                    "roles: {} {why} (a count, rest, a host list such as \"node[01-04]\", or {{group: G}} with from: ansible)",
                    name.value
                ),
            )
        };
        let rule = match &value.value {
            Value::Number(n) => match n.as_u64() {
                Some(k) if (1..=crate::spec::hostlist::MAX_NAMES as u64).contains(&k) => {
                    RoleRule::Count(k as usize)
                }
                _ => return Err(bad(&format!("asks for {n} hosts"))),
            },
            Value::String(s) if s.trim() == "rest" => {
                if let Some(other) = out.iter().find(|r| r.rule == RoleRule::Rest) {
                    return Err(bad(&format!(
                        "is rest, and so is '{}' (line {}): only one role takes the rest",
                        other.name, other.line
                    )));
                }
                RoleRule::Rest
            }
            Value::String(s) => {
                crate::spec::hostlist::expand(s).map_err(|e| bad(&e))?;
                if s.trim().is_empty() {
                    return Err(bad("is empty"));
                }
                RoleRule::Hostlist(s.trim().to_string())
            }
            Value::Object(m) => match (m.len(), m.get("group")) {
                (1, Some(Value::String(g))) if source.kind.groups => {
                    if g.is_empty() || g.len() > 255 || g.chars().any(char::is_control) {
                        return Err(bad("names no valid group"));
                    }
                    RoleRule::Group(g.clone())
                }
                (1, Some(Value::String(_))) => {
                    return Err(bad(&format!(
                        "names a group, and only from: {} has groups (this is from: {})",
                        kinds_where(|k| k.groups, "or"),
                        source.kind.name()
                    )))
                }
                _ => return Err(bad("is not understood")),
            },
            _ => return Err(bad("is not understood")),
        };
        out.push(RoleSpec {
            name: name.value.clone(),
            rule,
            line,
            column,
        });
    }
    if let Some(s) = source {
        if out.is_empty() && !s.kind.groups {
            return Err(Error::input(
                path,
                s.line,
                0,
                format!(
                    "hosts: from: {} needs roles: to say which hosts bear which role (such as roles: {{server: 1, client: rest}})",
                    s.kind.name()
                ),
            ));
        }
    }
    Ok(out)
}

/// A Slurm job id as `srun --jobid` and `squeue -j` take it (`exec::srun::valid_job`: digits,
/// or an array task `12_3`); never an option or two words.
pub(crate) fn slurm_job_ok(job: &str) -> bool {
    crate::exec::srun::valid_job(job)
}

/// `host_problem` for a name read from a source: checked before it becomes anything.
pub(crate) fn source_host_problem(h: &str) -> Option<String> {
    if h.trim() != h || h.is_empty() {
        return Some(format!("host '{}' is not a host name", shown(h)));
    }
    host_problem(h)
}

#[cfg(test)]
mod tests {
    use crate::spec::parse_cluster;
    use std::path::Path;

    fn err(text: &str) -> String {
        parse_cluster(Path::new("c.yaml"), text)
            .expect_err(text)
            .to_string()
    }

    #[test]
    fn every_source_parses_with_its_keys() {
        let c = parse_cluster(
            Path::new("dir/c.yaml"),
            "hosts:\n  from: file\n  file: nodes.txt\n  user: bob\n  port: 2222\n  unreachable: drop\nroles:\n  server: 1\n  client: rest\n  mon: \"n[1-2]\"\n",
        )
        .unwrap();
        let h = c.hosts.as_ref().unwrap();
        assert_eq!(h.file.as_deref(), Some(Path::new("dir/nodes.txt")));
        assert!(h.drop_unreachable);
        assert_eq!(h.user.as_deref(), Some("bob"));
        assert_eq!(c.roles.len(), 3);
        assert_eq!(c.roles[2].rule, super::RoleRule::Hostlist("n[1-2]".into()));
        assert!(c.machines.is_empty());
        for text in [
            "hosts: {from: slurm, job: 123, transport: srun}\nroles: {a: rest}\n",
            "hosts: {from: slurm}\nroles: {a: 2, b: rest}\n",
            "hosts: {from: oar}\nroles: {a: rest}\n",
            "hosts: {from: pbs, file: /x}\nroles: {a: rest}\n",
            "hosts: {from: ansible, inventory: inv.yml}\n",
            "hosts: {from: ansible, inventory: inv.yml}\nroles: {db: {group: dbs}}\n",
            "hosts: {from: list, list: \"n[1-4]\"}\nroles: {a: rest}\n",
            "hosts: {from: command, command: \"echo a\"}\nroles: {a: 1}\n",
            "machines:\n  - {hostname: gw, role: g}\nhosts: {from: list, list: a}\nroles: {a: rest}\n",
        ] {
            parse_cluster(Path::new("c.yaml"), text).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
    }

    #[test]
    fn mistakes_are_named_at_their_line() {
        let cases = [
            (
                "hosts: {from: lsf}\n",
                "c.yaml:1:",
                "from 'lsf' is not a host source",
            ),
            (
                "hosts:\n  from: list\n  list: a\n  job: 3\nroles: {a: 1}\n",
                "c.yaml:4:",
                "'job' has no meaning with from: list",
            ),
            (
                "hosts: {from: file}\nroles: {a: 1}\n",
                "c.yaml:1:",
                "from: file needs 'file:'",
            ),
            (
                "hosts: {from: list, list: \"n[3-1]\"}\nroles: {a: 1}\n",
                "c.yaml:1:",
                "runs backwards",
            ),
            (
                "hosts: {from: list, list: a, transport: srun}\nroles: {a: 1}\n",
                "c.yaml:1:",
                "it needs from: slurm",
            ),
            (
                "hosts: {from: list, list: a, unreachable: skip}\nroles: {a: 1}\n",
                "c.yaml:1:",
                "must be fail or drop",
            ),
            (
                "hosts: {from: list, list: a}\n",
                "c.yaml:1:",
                "needs roles:",
            ),
            (
                "hosts: {from: list, list: a}\nroles:\n  a: 0\n",
                "c.yaml:3:",
                "asks for 0 hosts",
            ),
            (
                "hosts: {from: list, list: a}\nroles:\n  a: rest\n  b: rest\n",
                "c.yaml:4:",
                "only one role takes the rest",
            ),
            (
                "hosts: {from: list, list: a}\nroles:\n  a: {group: g}\n",
                "c.yaml:3:",
                "only from: ansible has groups",
            ),
            (
                "hosts: {from: list, list: a}\nroles:\n  a: \"x[1-\"\n",
                "c.yaml:3:",
                "unclosed",
            ),
            (
                "hosts: {from: list, list: a}\nroles:\n  ../x: 1\n",
                "c.yaml:3:",
                "not a valid role name",
            ),
            (
                "hosts: {from: slurm, job: \"1; id\"}\nroles: {a: 1}\n",
                "c.yaml:1:",
                "not a Slurm job id",
            ),
            (
                "hosts: {from: list, list: a, user: \"-oX\"}\nroles: {a: 1}\n",
                "c.yaml:1:",
                "user '-oX'",
            ),
            (
                "roles: {a: 1}\nmachines:\n  - {hostname: h, role: a}\n",
                "c.yaml:1:",
                "this file has none",
            ),
        ];
        for (text, at, what) in cases {
            let e = err(text);
            assert!(e.starts_with(at) && e.contains(what), "{text}: {e}");
        }
    }
}
