//! The one minijinja environment: templates, `when` expressions, the `quote` filter, and
//! the static check that rejects undefined names before anything runs.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use minijinja::{Environment, UndefinedBehavior, Value};

use crate::exec::sh_quote;

/// Top-level names every template may use besides the variables.
pub const CONTEXT_NAMES: &[&str] = &[
    "roles",
    "links",
    "labels",
    "role",
    "run",
    "experiment",
    "run_dir",
];

/// Names minijinja provides itself.
const BUILTIN_NAMES: &[&str] = &["range", "dict", "namespace", "debug", "loop", "self"];

const ROLE_FIELDS: &[&str] = &["host", "ip", "interfaces", "name", "namespace", "cpu_id"];
const RUN_FIELDS: &[&str] = &["id", "index", "repetition"];
const EXPERIMENT_FIELDS: &[&str] = &["id", "name"];

/// `{{ x | quote }}`: the one shell quoter of mpf, so that templates and mpf's own command
/// lines quote alike.
fn quote_filter(v: Value) -> String {
    if v.is_none() || v.is_undefined() {
        return "''".into();
    }
    match v.as_str() {
        Some(s) => sh_quote(s),
        None => sh_quote(&v.to_string()),
    }
}

/// The shared environment (strict: undefined names are errors).
pub fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.add_filter("quote", quote_filter);
        // Commands are shell text: null (a `when` that is false) prints nothing and booleans
        // print as YAML wrote them, not Python's None/True/False.
        env.set_formatter(|out, state, value| {
            if value.is_none() || value.is_undefined() {
                return Ok(());
            }
            if value.kind() == minijinja::value::ValueKind::Bool {
                let text = if value.is_true() { "true" } else { "false" };
                return out.write_str(text).map_err(minijinja::Error::from);
            }
            minijinja::escape_formatter(out, state, value)
        });
        env
    })
}

/// Renders a template string with `ctx`.
pub fn render(text: &str, ctx: &Value) -> Result<String, String> {
    if !text.contains("{{") && !text.contains("{%") && !text.contains("{#") {
        return Ok(text.to_string());
    }
    env().render_str(text, ctx).map_err(describe)
}

/// A TCP port written or rendered as text: 1 to 65535.
pub fn parse_port(text: &str) -> Option<u16> {
    text.trim().parse::<u16>().ok().filter(|p| *p != 0)
}

/// Evaluates a `when:` expression to a boolean.
pub fn eval_condition(expr: &str, ctx: &Value) -> Result<bool, String> {
    let e = env().compile_expression(expr).map_err(describe)?;
    e.eval(ctx).map(|v| v.is_true()).map_err(describe)
}

/// A readable one-line description of a minijinja error.
pub fn describe(e: minijinja::Error) -> String {
    let mut s = match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    };
    if let Some(line) = e.line() {
        if line > 1 {
            s.push_str(&format!(" (template line {line})"));
        }
    }
    s
}

/// What a template may refer to; used for the static check.
#[derive(Debug, Clone, Default)]
pub struct KnownNames {
    pub variables: BTreeSet<String>,
    /// Role names; `None` accepts any role (checked later against the cluster).
    pub roles: Option<BTreeSet<String>>,
    pub links: Option<BTreeSet<String>>,
}

/// Compiles a template and checks every name it uses; returns a message on error.
pub fn check_template(text: &str, known: &KnownNames) -> Result<(), String> {
    let tmpl = env().template_from_str(text).map_err(describe)?;
    check_names(tmpl.undeclared_variables(true), known)
}

/// Compiles a `when:` expression and checks its names against `known`.
pub fn check_expression(expr: &str, known: &KnownNames) -> Result<(), String> {
    let e = env().compile_expression(expr).map_err(describe)?;
    check_names(e.undeclared_variables(true), known)
}

/// The names an expression refers to (first component only).
pub fn expression_names(expr: &str) -> Result<BTreeSet<String>, String> {
    let e = env().compile_expression(expr).map_err(describe)?;
    Ok(e.undeclared_variables(false).into_iter().collect())
}

fn check_names(names: std::collections::HashSet<String>, known: &KnownNames) -> Result<(), String> {
    let mut names: Vec<String> = names.into_iter().collect();
    names.sort();
    for name in names {
        let parts: Vec<&str> = name.split('.').collect();
        let head = parts[0];
        if known.variables.contains(head) || BUILTIN_NAMES.contains(&head) {
            continue;
        }
        if !CONTEXT_NAMES.contains(&head) {
            return Err(format!("undefined name '{head}'{}", suggest(head, known)));
        }
        let sub = parts.get(1).copied();
        let field = parts.get(2).copied();
        match (head, sub) {
            ("labels", Some(v)) if !known.variables.contains(v) => {
                return Err(format!("'labels.{v}': no variable named '{v}'"));
            }
            ("roles", Some(r)) => {
                if let Some(roles) = &known.roles {
                    if !roles.contains(r) {
                        return Err(format!(
                            "'roles.{r}': no role named '{r}' (roles: {})",
                            roles.iter().cloned().collect::<Vec<_>>().join(", ")
                        ));
                    }
                }
                if let Some(f) = field {
                    if !ROLE_FIELDS.contains(&f) {
                        return Err(format!(
                            "'roles.{r}.{f}': a role has {}",
                            ROLE_FIELDS.join(", ")
                        ));
                    }
                }
            }
            ("links", Some(l)) => {
                if let Some(links) = &known.links {
                    if !links.contains(l) {
                        return Err(format!("'links.{l}': no link named '{l}'"));
                    }
                }
            }
            ("run", Some(f)) if !RUN_FIELDS.contains(&f) => {
                return Err(format!("'run.{f}': run has {}", RUN_FIELDS.join(", ")));
            }
            ("experiment", Some(f)) if !EXPERIMENT_FIELDS.contains(&f) => {
                return Err(format!(
                    "'experiment.{f}': experiment has {}",
                    EXPERIMENT_FIELDS.join(", ")
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

fn suggest(name: &str, known: &KnownNames) -> String {
    let candidates = known
        .variables
        .iter()
        .map(String::as_str)
        .chain(CONTEXT_NAMES.iter().copied());
    let best = candidates
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min();
    match best {
        Some((_, c)) => format!(" (did you mean '{c}'?)"),
        None => String::new(),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> KnownNames {
        KnownNames {
            variables: ["parallel", "zerocopy"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            roles: Some(["server", "client"].iter().map(|s| s.to_string()).collect()),
            links: None,
        }
    }

    #[test]
    fn empty_values_disappear_and_quote_works() {
        let ctx = Value::from_serialize(serde_json::json!({"z": "", "s": "a b"}));
        assert_eq!(render("x {{ z }}y", &ctx).unwrap(), "x y");
        assert_eq!(render("echo {{ s | quote }}", &ctx).unwrap(), "echo 'a b'");
        let ctx = Value::from_serialize(serde_json::json!({"n": null, "b": true, "f": false}));
        assert_eq!(
            render("[{{ n }}] {{ b }} {{ f }}", &ctx).unwrap(),
            "[] true false"
        );
        assert_eq!(
            render("{% if n is none %}none{% endif %}", &ctx).unwrap(),
            "none"
        );
    }

    #[test]
    fn undefined_names_are_rejected_statically() {
        let k = known();
        assert!(check_template("{{ parallel }} {{ roles.server.ip }} {{ run.id }}", &k).is_ok());
        let e = check_template("{{ paralel }}", &k).unwrap_err();
        assert!(
            e.contains("undefined name 'paralel'") && e.contains("parallel"),
            "{e}"
        );
        assert!(check_template("{{ roles.router.ip }}", &k)
            .unwrap_err()
            .contains("router"));
        assert!(check_template("{{ roles.server.mac }}", &k).is_err());
        assert!(check_template("{{ labels.nope }}", &k).is_err());
        assert!(check_template("{% for i in range(3) %}{{ i }}{% endfor %}", &k).is_ok());
        assert!(check_template("{{ oops", &k).is_err());
    }

    #[test]
    fn conditions() {
        let ctx = Value::from_serialize(serde_json::json!({"variant": "multipath"}));
        assert!(eval_condition("variant == \"multipath\"", &ctx).unwrap());
        assert!(!eval_condition("variant == 'x'", &ctx).unwrap());
        assert!(check_expression("variant == 1", &known()).is_err());
    }
}
