//! The one minijinja environment: templates, `when` expressions, the `quote` filter, and
//! the static check that rejects undefined names before anything runs.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use minijinja::{Environment, UndefinedBehavior, Value};

use crate::exec::sh_quote;

/// Top-level names every template may use besides the variables.
pub(crate) const CONTEXT_NAMES: &[&str] = &[
    "roles",
    "links",
    "labels",
    "role",
    "run",
    "experiment",
    "run_dir",
    "node",
];

/// Names minijinja provides itself.
const BUILTIN_NAMES: &[&str] = &["range", "dict", "namespace", "debug", "loop", "self"];

const ROLE_FIELDS: &[&str] = &[
    "host",
    "ip",
    "interfaces",
    "name",
    "namespace",
    "cpu_id",
    "hosts",
];
const NODE_FIELDS: &[&str] = &["index", "count", "name", "host"];
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
pub(crate) fn env() -> &'static Environment<'static> {
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
pub(crate) fn render(text: &str, ctx: &Value) -> Result<String, String> {
    if !is_template(text) {
        return Ok(text.to_string());
    }
    env().render_str(text, ctx).map_err(describe)
}

/// Whether `text` has anything to render (else it renders as itself, whatever the context).
pub(crate) fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// A TCP port written or rendered as text: 1 to 65535.
pub(crate) fn parse_port(text: &str) -> Option<u16> {
    text.trim().parse::<u16>().ok().filter(|p| *p != 0)
}

/// Evaluates a condition (`when:`, a search's condition) to a boolean. A condition that
/// cannot be evaluated is an error, and so is one whose outcome depends on a value that is not a
/// number: minijinja orders NaN below every number, so `lost / total < 0.01` with `total` 0
/// would be true. `and`, `or` and `not` are decided as in three-valued logic (`total == 0 or
/// lost / total < 0.01` holds when `total` is 0); a comparison with a NaN operand, or a NaN
/// alone, is undecided, and an undecided outcome is the error.
pub fn eval_condition(expr: &str, ctx: &Value) -> Result<bool, String> {
    let e = compile_expression(expr)?;
    let whole = e.eval(ctx).map_err(describe)?;
    // A part that cannot be evaluated alone leaves the decision to minijinja.
    match decide_condition(expr, &mut |leaf| leaf_at(leaf, ctx)) {
        Ok(Some(b)) => Ok(b),
        Err(_) => Ok(whole.is_true()),
        Ok(None) => Err(format!(
            "'{expr}' cannot be decided: a value in it is not a number (NaN, as 0 / 0 gives)"
        )),
    }
}

/// A leaf of a condition's `and`/`or`/`not` structure, decided alone: a comparison of two
/// operands (a chained comparison `a < b < c` is split into its pairs, `(a) < (b)` and `(b) <
/// (c)`), or any other part (no operands).
pub(crate) struct Leaf<'s> {
    pub text: std::borrow::Cow<'s, str>,
    pub operands: Vec<&'s str>,
}

/// Decides a condition in three-valued logic from its leaves: `and`, `or` and `not` decide
/// what they can (`false and x` is false whatever `x`), and `None` is undecided. `leaf`
/// decides each leaf; an error is a part that cannot be evaluated alone.
pub(crate) fn decide_condition(
    expr: &str,
    leaf: &mut dyn FnMut(&Leaf) -> Result<Option<bool>, String>,
) -> Result<Option<bool>, String> {
    if expr.contains("}}") {
        return Err("an expression cannot contain '}}'".into());
    }
    let parsed = std::panic::catch_unwind(|| minijinja::machinery::parse_expr(expr));
    let Ok(Ok(ast)) = parsed else {
        return Err(format!("cannot parse '{expr}'"));
    };
    decide(&ast, expr, leaf)
}

/// A leaf's truth at `ctx`: undecided when an operand, or the value of a leaf without
/// operands, is NaN.
pub(crate) fn leaf_at(leaf: &Leaf, ctx: &Value) -> Result<Option<bool>, String> {
    for op in &leaf.operands {
        if is_nan(&text_value(op, ctx)?) {
            return Ok(None);
        }
    }
    let v = text_value(&leaf.text, ctx)?;
    Ok((!is_nan(&v)).then(|| v.is_true()))
}

/// The value of an expression's text at `ctx`.
pub(crate) fn text_value(text: &str, ctx: &Value) -> Result<Value, String> {
    compile_expression(text)?.eval(ctx).map_err(describe)
}

/// A condition's outcome in three-valued logic: `None` when a leaf is undecided.
fn decide(
    node: &minijinja::machinery::ast::Expr,
    src: &str,
    leaf: &mut dyn FnMut(&Leaf) -> Result<Option<bool>, String>,
) -> Result<Option<bool>, String> {
    use minijinja::machinery::ast::{BinOpKind as B, CompareOpKind as C, Expr, UnaryOpKind};
    let text = |n: &minijinja::machinery::ast::Expr| {
        node_text(n, src).ok_or_else(|| format!("cannot evaluate a part of '{src}'"))
    };
    match node {
        Expr::BinOp(b) if matches!(b.op, B::ScAnd | B::ScOr) => {
            let stop = matches!(b.op, B::ScOr);
            let left = decide(&b.left, src, leaf)?;
            if left == Some(stop) {
                return Ok(left);
            }
            let right = decide(&b.right, src, leaf)?;
            Ok(match (left, right) {
                (_, Some(r)) if r == stop => Some(stop),
                (Some(_), r) => r,
                (None, _) => None,
            })
        }
        Expr::UnaryOp(u) if matches!(u.op, UnaryOpKind::Not) => {
            Ok(decide(&u.expr, src, leaf)?.map(|b| !b))
        }
        Expr::BinOp(b) if matches!(b.op, B::Eq | B::Ne | B::Lt | B::Lte | B::Gt | B::Gte) => {
            leaf(&Leaf {
                text: text(node)?.into(),
                operands: vec![text(&b.left)?, text(&b.right)?],
            })
        }
        Expr::Compare(c) => {
            // `a < b < c` is `a < b and b < c`.
            let mut out = Some(true);
            let mut left = &c.expr;
            for op in &c.ops {
                let sym = match op.op {
                    C::Eq => "==",
                    C::Ne => "!=",
                    C::Lt => "<",
                    C::Lte => "<=",
                    C::Gt => ">",
                    C::Gte => ">=",
                    C::In => "in",
                    C::NotIn => "not in",
                };
                let (a, b) = (text(left)?, text(&op.expr)?);
                let pair = leaf(&Leaf {
                    text: format!("({a}) {sym} ({b})").into(),
                    operands: vec![a, b],
                })?;
                match pair {
                    Some(false) => return Ok(Some(false)),
                    None => out = None,
                    Some(true) => {}
                }
                left = &op.expr;
            }
            Ok(out)
        }
        _ => leaf(&Leaf {
            text: text(node)?.into(),
            operands: Vec::new(),
        }),
    }
}

/// Evaluates an expression that must give a number (a derived result); NaN and infinities
/// are returned for the caller to judge.
pub(crate) fn eval_number(expr: &str, ctx: &Value) -> Result<f64, String> {
    let v = compile_expression(expr)?.eval(ctx).map_err(describe)?;
    if v.kind() != minijinja::value::ValueKind::Number {
        return Err(format!("gives {} '{v}', not a number", v.kind()));
    }
    f64::try_from(v).map_err(describe)
}

/// The text of a node. minijinja's spans start where the parser stood (`or x == 5` for the
/// right side of an `or`) and leave out a group's parentheses, so a node's text runs from its
/// leftmost leaf to its own end, widened over the parentheses it needs.
fn node_text<'s>(node: &minijinja::machinery::ast::Expr, src: &'s str) -> Option<&'s str> {
    let (start, end) = (leftmost(node) as usize, node.span().end_offset as usize);
    let b = src.as_bytes();
    let (mut start, mut end) = (start.min(end), end.min(b.len()));
    let (mut open, mut close) = unbalanced(src.get(start..end)?);
    while close > 0 {
        start = src[..start].trim_end().len().checked_sub(1)?;
        if !matches!(b[start], b'(' | b'[' | b'{') {
            return None;
        }
        close -= 1;
    }
    while open > 0 {
        end += src[end..].len() - src[end..].trim_start().len();
        if !matches!(b.get(end), Some(b')' | b']' | b'}')) {
            return None;
        }
        end += 1;
        open -= 1;
    }
    (open, close) = unbalanced(src.get(start..end)?);
    ((open, close) == (0, 0)).then(|| &src[start..end])
}

/// Where a node's text starts: at its leftmost leaf.
fn leftmost(node: &minijinja::machinery::ast::Expr) -> u32 {
    use minijinja::machinery::ast::Expr;
    match node {
        Expr::BinOp(b) => leftmost(&b.left),
        Expr::Compare(c) => leftmost(&c.expr),
        Expr::Filter(f) => f.expr.as_ref().map_or(node.span().start_offset, leftmost),
        Expr::Test(t) => leftmost(&t.expr),
        Expr::GetAttr(g) => leftmost(&g.expr),
        Expr::GetItem(g) => leftmost(&g.expr),
        Expr::Call(c) => leftmost(&c.expr),
        Expr::IfExpr(i) => leftmost(&i.true_expr),
        _ => node.span().start_offset,
    }
}

/// Brackets a text leaves open and closes without opening, outside string literals.
fn unbalanced(text: &str) -> (usize, usize) {
    let (mut open, mut close) = (0usize, 0usize);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in text.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '\'' | '"' => quote = Some(c),
                '(' | '[' | '{' => open += 1,
                ')' | ']' | '}' if open > 0 => open -= 1,
                ')' | ']' | '}' => close += 1,
                _ => {}
            },
        }
    }
    (open, close)
}

fn is_nan(v: &Value) -> bool {
    v.kind() == minijinja::value::ValueKind::Number
        && f64::try_from(v.clone()).is_ok_and(f64::is_nan)
}

/// Compiles an expression. minijinja 2.24's expression lexer panics ("empty lexer stack")
/// when `}}` is followed by more text (`a }} b`), found by the fuzz target: such input is
/// refused first, and any other panic of the compiler becomes an error too.
fn compile_expression<'s>(expr: &'s str) -> Result<minijinja::Expression<'s, 's>, String> {
    if expr.contains("}}") {
        return Err("an expression cannot contain '}}'".into());
    }
    std::panic::catch_unwind(|| env().compile_expression(expr))
        .map_err(|_| format!("cannot compile the expression '{expr}'"))?
        .map_err(describe)
}

/// A readable one-line description of a minijinja error.
pub(crate) fn describe(e: minijinja::Error) -> String {
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

/// Compiles a template and checks every name, filter and test it uses; returns a message on
/// error.
pub fn check_template(text: &str, known: &KnownNames) -> Result<(), String> {
    let tmpl = env().template_from_str(text).map_err(describe)?;
    check_names(tmpl.undeclared_variables(true), known)?;
    check_filters_and_tests(&tmpl)
}

/// Compiles a `when:` expression and checks its names, filters and tests against `known`.
pub fn check_expression(expr: &str, known: &KnownNames) -> Result<(), String> {
    let e = compile_expression(expr)?;
    check_names(e.undeclared_variables(true), known)?;
    check_expression_callables(expr)
}

/// The filters and tests of an expression that compiles, checked as in templates.
pub(crate) fn check_expression_callables(expr: &str) -> Result<(), String> {
    // An expression is checked as the template that prints it: the same instructions.
    match env().template_from_str(&format!("{{{{ {expr} }}}}")) {
        Ok(tmpl) => check_filters_and_tests(&tmpl),
        Err(_) => Ok(()),
    }
}

/// Filters and tests are looked up only when a template runs, so an unknown one passed the
/// check and failed every run. The compiled template lists every filter and test it applies
/// (`minijinja::machinery`, the instructions minijinja runs, in all branches and blocks),
/// and each is asked of the environment itself, so the check knows exactly what rendering
/// knows. (Unknown functions are undeclared names, caught by `check_names`.)
fn check_filters_and_tests(tmpl: &minijinja::Template) -> Result<(), String> {
    use minijinja::machinery::{get_compiled_template, Instruction, Instructions};
    let compiled = get_compiled_template(tmpl);
    let lists: Vec<&Instructions> = std::iter::once(&compiled.instructions)
        .chain(compiled.blocks.values())
        .collect();
    for ins in lists {
        for i in 0..ins.len() as u32 {
            match ins.get(i) {
                Some(Instruction::ApplyFilter(name, ..)) if !is_known(Callable::Filter, name) => {
                    return Err(format!(
                        "unknown filter '{name}'{}",
                        suggest_callable(Callable::Filter, name)
                    ));
                }
                Some(Instruction::PerformTest(name, ..)) if !is_known(Callable::Test, name) => {
                    return Err(format!(
                        "unknown test '{name}'{}",
                        suggest_callable(Callable::Test, name)
                    ));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Callable {
    Filter,
    Test,
}

/// Whether the environment has a filter or test of that name: a tiny template applying it
/// fails with `UnknownFilter`/`UnknownTest` exactly when it has not. `name` is an identifier
/// from minijinja's own lexer.
fn is_known(kind: Callable, name: &str) -> bool {
    let (probe, unknown) = match kind {
        Callable::Filter => (
            format!("{{{{ none | {name} }}}}"),
            minijinja::ErrorKind::UnknownFilter,
        ),
        Callable::Test => (
            format!("{{{{ none is {name} }}}}"),
            minijinja::ErrorKind::UnknownTest,
        ),
    };
    match env().render_str(&probe, ()) {
        Ok(_) => true,
        Err(e) => e.kind() != unknown,
    }
}

/// Filters and tests users reach for, as candidates for "did you mean"; only those the
/// environment really has are suggested.
const FILTER_CANDIDATES: &[&str] = &[
    "quote",
    "abs",
    "attr",
    "batch",
    "capitalize",
    "count",
    "default",
    "dictsort",
    "escape",
    "first",
    "float",
    "groupby",
    "indent",
    "int",
    "items",
    "join",
    "last",
    "length",
    "lines",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "reject",
    "rejectattr",
    "replace",
    "reverse",
    "round",
    "select",
    "selectattr",
    "slice",
    "sort",
    "split",
    "string",
    "sum",
    "title",
    "tojson",
    "trim",
    "unique",
    "upper",
    "urlencode",
];
const TEST_CANDIDATES: &[&str] = &[
    "boolean",
    "defined",
    "divisibleby",
    "endingwith",
    "eq",
    "even",
    "false",
    "float",
    "ge",
    "gt",
    "in",
    "integer",
    "iterable",
    "le",
    "lower",
    "lt",
    "mapping",
    "ne",
    "none",
    "number",
    "odd",
    "sameas",
    "sequence",
    "startingwith",
    "string",
    "true",
    "undefined",
    "upper",
];

fn suggest_callable(kind: Callable, name: &str) -> String {
    let candidates = match kind {
        Callable::Filter => FILTER_CANDIDATES,
        Callable::Test => TEST_CANDIDATES,
    };
    did_you_mean(
        name,
        candidates.iter().copied().filter(|c| is_known(kind, c)),
    )
}

/// The names an expression refers to (first component only).
pub(crate) fn expression_names(expr: &str) -> Result<BTreeSet<String>, String> {
    let e = compile_expression(expr)?;
    Ok(e.undeclared_variables(false).into_iter().collect())
}

/// The names an expression reads, dotted paths whole (`lat.p99`), sorted.
pub(crate) fn expression_names_nested(expr: &str) -> Result<Vec<String>, String> {
    let e = compile_expression(expr)?;
    let mut names: Vec<String> = e.undeclared_variables(true).into_iter().collect();
    names.sort();
    Ok(names)
}

/// Checks a search condition: every name is a variable, `results` (`results["lat.p99"]`), or
/// a result as written, dotted names included (`lat.p99`, `goodput.server`).
pub(crate) fn check_condition(
    expr: &str,
    variables: &BTreeSet<String>,
    results: &[String],
) -> Result<(), String> {
    let e = env().compile_expression(expr).map_err(describe)?;
    let mut names: Vec<String> = e.undeclared_variables(true).into_iter().collect();
    names.sort();
    for name in names {
        let head = name.split('.').next().unwrap_or("");
        if variables.contains(head) || head == "results" {
            continue;
        }
        let prefix = format!("{name}.");
        let known = results.iter().any(|r| *r == name || r.starts_with(&prefix));
        if !known {
            let listed = if results.is_empty() {
                "none declared".to_string()
            } else {
                results.join(", ")
            };
            return Err(format!(
                "unknown name '{name}' (results: {listed}; an undeclared mpf-result name is reached as results[\"{name}\"])"
            ));
        }
        if let Some(r) = results.iter().find(|r| name.starts_with(&format!("{r}."))) {
            return Err(format!(
                "'{name}' is hidden by the result '{r}'; write results[\"{name}\"]"
            ));
        }
    }
    Ok(())
}

/// The context of a search condition: the point's variables, every result by name (dotted
/// names nested, so that `lat.p99` reads as written) and all of them in `results`.
pub(crate) fn condition_context(
    point: &serde_json::Map<String, serde_json::Value>,
    means: &[(String, f64)],
) -> Value {
    use serde_json::Value as J;
    let mut ctx = point.clone();
    let mut all = serde_json::Map::new();
    for (name, mean) in means {
        let v = serde_json::Number::from_f64(*mean).map_or(J::Null, J::Number);
        all.insert(name.clone(), v.clone());
        let parts: Vec<&str> = name.split('.').collect();
        nest(&mut ctx, &parts, v);
    }
    ctx.insert("results".into(), J::Object(all));
    Value::from_serialize(&ctx)
}

/// Inserts `value` at `path` in nested maps, leaving alone a path that a number already holds.
fn nest(
    map: &mut serde_json::Map<String, serde_json::Value>,
    path: &[&str],
    value: serde_json::Value,
) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        map.entry(first.to_string()).or_insert(value);
        return;
    }
    let slot = map
        .entry(first.to_string())
        .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
    if let serde_json::Value::Object(inner) = slot {
        nest(inner, rest, value);
    }
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
            ("node", Some(f)) if !NODE_FIELDS.contains(&f) => {
                return Err(format!("'node.{f}': node has {}", NODE_FIELDS.join(", ")));
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
    did_you_mean(name, candidates)
}

/// ` (did you mean 'X'?)` for the candidate nearest to `name`, when one is near enough.
pub(crate) fn did_you_mean<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> String {
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
    fn unknown_filters_and_tests_are_rejected_statically() {
        let k = known();
        let e = check_template("run {{ parallel | quot }}", &k).unwrap_err();
        assert_eq!(e, "unknown filter 'quot' (did you mean 'quote'?)");
        // In a branch that a given point may never take, and in a `filter` block.
        let e = check_template("{% if false %}{{ parallel | uper }}{% endif %}", &k).unwrap_err();
        assert_eq!(e, "unknown filter 'uper' (did you mean 'upper'?)");
        let e = check_template("{% filter nope %}x{% endfilter %}", &k).unwrap_err();
        assert!(e.starts_with("unknown filter 'nope'"), "{e}");
        let e = check_template("{% if parallel is od %}x{% endif %}", &k).unwrap_err();
        assert_eq!(e, "unknown test 'od' (did you mean 'odd'?)");
        let e = check_expression("parallel is evn", &k).unwrap_err();
        assert_eq!(e, "unknown test 'evn' (did you mean 'even'?)");
        let e = check_expression("parallel | flot > 1", &k).unwrap_err();
        assert_eq!(e, "unknown filter 'flot' (did you mean 'float'?)");
        let e = check_template("{{ foo(parallel) }}", &k).unwrap_err();
        assert!(e.contains("undefined name 'foo'"), "{e}");
        for ok in [
            "{{ parallel | quote }} {{ zerocopy | default('x') | upper }}",
            "{% if parallel is odd and zerocopy is defined %}{{ range(3) | join(',') }}{% endif %}",
            "{{ parallel | int | abs }} {{ dict(a=1) | tojson }}",
        ] {
            assert_eq!(check_template(ok, &k), Ok(()), "{ok}");
        }
    }

    #[test]
    fn expressions_that_crash_minijinja_are_errors() {
        for bad in ["}}a", "a }} b", "x -}} y", "1 }}}}"] {
            let e = check_expression(bad, &known()).unwrap_err();
            assert!(e.contains("'}}'"), "{bad}: {e}");
            assert!(expression_names(bad).is_err());
            assert!(eval_condition(bad, &Value::from(())).is_err());
        }
    }

    #[test]
    fn a_nan_never_decides_a_condition() {
        let ctx = Value::from_serialize(serde_json::json!({"lost": 0, "total": 0, "x": 5}));
        for undecided in [
            "lost / total < 0.01",
            "lost / total >= 0.01",
            "not (lost / total < 0.01)",
            "x > 1 and lost / total < 0.01",
            "x < 1 or (lost / total) * 100 < 1",
            "1 < lost / total < 2",
            "lost / total",
        ] {
            let e = eval_condition(undecided, &ctx).unwrap_err();
            assert!(e.contains("not a number"), "{undecided}: {e}");
        }
        for (decided, want) in [
            ("total == 0 or lost / total < 0.01", true),
            ("total > 0 and lost / total < 0.01", false),
            ("lost / total < 0.01 or x == 5", true),
            ("lost / total < 0.01 and x == 4", false),
            ("(x + 1) * 2 > 11 and not (x < 3)", true),
            ("x / 2 < 2.6 < 3", true),
            ("x in [1, 5] and 'a' ~ 'b' == 'ab'", true),
            ("x if x > 9 else lost / x < 0.1", true),
            ("x | float > 4.5", true),
        ] {
            assert_eq!(eval_condition(decided, &ctx), Ok(want), "{decided}");
        }
        // A value that is infinite is a number: 1 / 0 is above any bound.
        let ctx = Value::from_serialize(serde_json::json!({"lost": 1, "total": 0}));
        assert_eq!(eval_condition("lost / total < 0.01", &ctx), Ok(false));
    }

    #[test]
    fn conditions() {
        let ctx = Value::from_serialize(serde_json::json!({"variant": "multipath"}));
        assert!(eval_condition("variant == \"multipath\"", &ctx).unwrap());
        assert!(!eval_condition("variant == 'x'", &ctx).unwrap());
        assert!(check_expression("variant == 1", &known()).is_err());
    }

    #[test]
    fn search_conditions_read_results_as_written() {
        let vars: BTreeSet<String> = ["cores".to_string()].into();
        let results = ["loss".to_string(), "lat.p99".to_string()];
        for ok in [
            "loss <= 0.001",
            "lat.p99 < 0.002 * cores",
            "results['lat.p99'] < 1 and results.other > 0",
        ] {
            assert!(check_condition(ok, &vars, &results).is_ok(), "{ok}");
        }
        let e = check_condition("los <= 0.001", &vars, &results).unwrap_err();
        assert!(e.contains("unknown name 'los'"), "{e}");
        let hidden = ["lat".to_string(), "lat.p99".to_string()];
        let e = check_condition("lat.p99 < 1", &vars, &hidden).unwrap_err();
        assert!(e.contains("results[\"lat.p99\"]"), "{e}");

        let point = serde_json::json!({"cores": 2}).as_object().unwrap().clone();
        let means = [("loss".to_string(), 0.0005), ("lat.p99".to_string(), 0.003)];
        let ctx = condition_context(&point, &means);
        assert!(eval_condition("loss <= 0.001", &ctx).unwrap());
        assert!(eval_condition("lat.p99 < 0.002 * cores", &ctx).unwrap());
        assert!(!eval_condition("results['lat.p99'] < 0.001", &ctx).unwrap());
    }
}
