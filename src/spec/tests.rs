use std::path::Path;

use super::*;

fn parse(src: &str) -> crate::Result<Experiment> {
    parse_experiment(Path::new("exp.yaml"), src)
}

fn err(src: &str) -> String {
    parse(src).expect_err("expected an error").to_string()
}

/// Each bad file gives one error that names the file, the line and column, and what is wrong:
/// the messages as users read them.
#[test]
fn show_errors() {
    let shown: Vec<String> = [
        "steps:\n  - run: echo\n    bogus: 1\n",
        "runs: [\n",
        "variables:\n  x: {range: [5, 1]}\nsteps:\n  - run: echo {{ x }}\n",
        "variables:\n  x: [1,2]\nsteps:\n  - run: echo {{ y }}\n",
        "variables:\n  x: [1,2]\nsteps:\n  - run: echo\n    results:\n      x: 'a(b'\n",
        "variables:\n  x: [1,2]\nsteps:\n  - run: echo\n    results:\n      x: 'a(.)'\n",
        "runs: abc\nsteps:\n  - run: x\n",
        "steps:\n  - run: x\n    timeout: 5 parsecs\n",
    ]
    .iter()
    .map(|src| {
        let e = err(src);
        assert!(e.starts_with("exp.yaml:"), "no file named: {e}");
        format!("--- {src:?}\n{e}")
    })
    .collect();
    insta::assert_snapshot!(shown.join("\n"));
}

#[test]
fn durations_are_bounded_at_load() {
    for t in [
        "10000000000000000000",
        "18446744073709551615",
        "1e300",
        "31days",
        "2592001",
        "\"100000000 h\"",
    ] {
        let e = err(&format!("steps:\n  - run: x\n    timeout: {t}\n"));
        assert!(
            e.starts_with("exp.yaml:3:") && e.contains("30 days"),
            "{t}: {e}"
        );
    }
    for key in ["delay", "timeout"] {
        let e = err(&format!("steps:\n  - run: x\n    {key}: 99999999999\n"));
        assert!(e.contains("longer than the limit of 30 days"), "{key}: {e}");
    }
    let e = err(
        "steps:\n  - run: x\n    background: true\n    ready: {port: 1, timeout: 9999999999}\n",
    );
    assert!(e.contains("30 days"), "{e}");
    let e = err("setup:\n  - run: x\n    timeout: 9999999999\nsteps:\n  - run: x\n");
    assert!(e.contains("30 days"), "{e}");
    let e = err("steps:\n  - run: x\n    timeout: -1\n");
    assert!(e.contains("negative"), "{e}");
    let e = err("steps:\n  - run: x\n    timeout: .nan\n");
    assert!(e.starts_with("exp.yaml:3:"), "{e}");
    for t in ["\"1e300\"", "\"inf\"", ".inf"] {
        let e = err(&format!("steps:\n  - run: x\n    timeout: {t}\n"));
        assert!(e.starts_with("exp.yaml:3:"), "{t}: {e}");
    }
    let ok = parse("steps:\n  - run: x\n    timeout: 30days\n    delay: 2592000\n").unwrap();
    assert_eq!(ok.steps[0].timeout, super::de::MAX_DURATION);
    assert_eq!(
        parse_duration("1.5s").unwrap(),
        std::time::Duration::from_millis(1500)
    );
}

#[test]
fn role_names_are_never_paths() {
    for (role, what) in [
        ("/tmp/x", "'/tmp/x' is not a valid role name"),
        ("../up", "'../up' is not a valid role name"),
        ("\"a b\"", "'a b' is not a valid role name"),
        ("[server, ..]", "'..' is not a valid role name"),
        ("-x", "'-x' is not a valid role name"),
    ] {
        for section in ["steps", "teardown", "files", "setup"] {
            let entry = match section {
                "files" => format!("files:\n  - role: {role}\n    path: p\n    content: c\n"),
                s => format!("{s}:\n  - role: {role}\n    run: x\n"),
            };
            let src = if section == "steps" {
                entry
            } else {
                format!("steps:\n  - run: x\n{entry}")
            };
            let e = err(&src);
            assert!(
                e.contains(what) && (e.contains(":2:") || e.contains(":4:")),
                "{section} {role}: {e}"
            );
        }
    }
    // Templated roles are checked once rendered; `all` and names with - are fine.
    parse("variables:\n  target: [a, b]\nsteps:\n  - role: [\"{{ target }}\", all, ns-node]\n    run: x\n")
        .unwrap();
}

#[test]
fn adaptive_runs_and_search_are_checked_at_load() {
    let steps = "steps:\n  - run: echo\n    results:\n      loss: 'l=(\\S+)'\n      lat: {regex: 'a=(\\S+ ms)', unit: s}\n";
    let ok = parse(&format!(
        "runs: {{min: 2, max: 9, ci: 0.5 ms, on: [lat]}}\nvariables:\n  rate: {{range: [1, 100000000000]}}\nsearch: {{variable: rate, condition: 'loss <= 0.001'}}\n{steps}"
    ))
    .unwrap();
    assert_eq!(ok.runs, 2);
    let a = ok.adaptive.unwrap();
    assert_eq!(
        a.targets,
        vec![("lat".to_string(), Width::Absolute(0.0005))]
    );
    let s = ok.search.unwrap();
    assert_eq!((s.lo, s.hi, s.integer), (1.0, 1e11, true));
    assert!(
        ok.variables[0].values.is_empty(),
        "a searched range is never expanded"
    );
    for (src, want) in [
        ("runs: {min: 1}\n", "exp.yaml:1:7: runs: min must be at least 2"),
        ("runs: {min: 5, max: 3}\n", "max (3) is smaller than min (5)"),
        ("runs: {on: [nope]}\n", "on: no declared result named 'nope'"),
        ("runs: {ci: 0%}\n", "must be greater than 0"),
        ("runs: {ci: 2 parsecs}\n", "ci:"),
        (
            "variables:\n  rate: {range: [1, 9]}\nsearch: {variable: rate, condition: 'los < 1'}\n",
            "exp.yaml:3:37: search condition: unknown name 'los'",
        ),
        (
            "variables:\n  rate: [1, 2]\nsearch: {variable: rate, condition: 'loss < 1'}\n",
            "exp.yaml:2:9: variable 'rate' is searched: give it range: [from, to]",
        ),
        (
            "variables:\n  rate: {range: [1, 9]}\nsearch: {variable: rat, condition: 'loss < 1'}\n",
            "search: no variable named 'rat'",
        ),
        (
            "variables:\n  rate: {range: [1, 9]}\nsearch: {variable: rate, condition: 'loss < 1', monotonic: [rate]}\n",
            "search monotonic: 'rate' is not another variable",
        ),
        (
            "variables:\n  rate: {range: [1, 9]}\nsearch: {variable: rate, condition: 'loss < 1', precision: -1}\n",
            "search precision:",
        ),
    ] {
        let e = err(&format!("{src}{steps}"));
        assert!(e.contains(want), "{src}: {e}");
    }
}

#[test]
fn unknown_filters_fail_the_check_where_they_are_written() {
    let e = err("variables:\n  x: [1]\nsteps:\n  - run: echo {{ x | quot }}\n");
    assert_eq!(
        e,
        "exp.yaml:4:10: template: unknown filter 'quot' (did you mean 'quote'?)"
    );
    let e =
        err("variables:\n  a: [1]\n  b:\n    values: [1]\n    when: a is od\nsteps:\n  - run: x\n");
    assert!(
        e.starts_with("exp.yaml:4:") && e.contains("unknown test 'od'"),
        "{e}"
    );
    let e = err("steps:\n  - run: x\n    background: true\n    ready: {port: 1, host: \"{{ role | uper }}\"}\n");
    assert!(
        e.starts_with("exp.yaml:2:") && e.contains("ready host: unknown filter 'uper'"),
        "{e}"
    );
    let e =
        err("files:\n  - path: p\n    content: \"{{ run_dir | basename }}\"\nsteps:\n  - run: x\n");
    assert!(e.contains("unknown filter 'basename'"), "{e}");
}

#[test]
fn unknown_keys_list_only_the_keys_of_their_section() {
    let e = err("steps:\n  - run: x\n    sync: {from: a, to: b}\n");
    assert!(
        e.starts_with("exp.yaml:3:")
            && e.ends_with(
                "expected one of name, role, run, background, ready, delay, timeout, count, results"
            ),
        "{e}"
    );
    let e = err("steps:\n  - run: x\nteardown:\n  - run: x\n    results: {}\n");
    assert!(
        e.starts_with("exp.yaml:5:")
            && e.ends_with("expected one of name, role, run, delay, timeout"),
        "{e}"
    );
    let e = err("setup:\n  - run: x\n    background: true\nsteps:\n  - run: x\n");
    assert!(
        e.starts_with("exp.yaml:3:")
            && e.ends_with("expected one of role, sync, packages, run, timeout"),
        "{e}"
    );
}

#[test]
fn input_files_are_read_up_to_a_limit() {
    // An endless file is refused after the limit instead of filling memory.
    let e = load_experiment(Path::new("/dev/zero"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "/dev/zero: the experiment file is larger than the limit of 16 MiB"
    );
    let e = load_cluster(Path::new("/dev/zero"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "/dev/zero: the cluster file is larger than the limit of 16 MiB"
    );
    let e = load_experiment(Path::new("/nonexistent/e.yaml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot read experiment file"), "{e}");
}

#[test]
fn a_condition_that_crashed_the_expression_compiler_is_an_error() {
    // Found by the fuzz target: minijinja's expression lexer panicked on `}}` followed by text.
    let e = err(
        "variables:\n  a: [1]\n  b:\n    values: [1]\n    when: \"a }} b\"\nsteps:\n  - run: x\n",
    );
    assert!(
        e.starts_with("exp.yaml:4:") && e.contains("cannot contain '}}'"),
        "{e}"
    );
}

#[test]
fn extractor_keys_are_checked_at_load() {
    let res = |body: &str| {
        format!("variables:\n  zc: [a, b]\nsteps:\n  - run: x\n    results:\n      r: {body}\n")
    };
    for (body, what) in [
        (
            "{regex: '(x)', in: ns}",
            "in: ns needs the unit to convert to",
        ),
        (
            "{regex: '(x)', in: ns, unit: B}",
            "cannot convert ns (in) to B (unit)",
        ),
        (
            "{regex: '(x)', file: a, stream: stderr}",
            "either file or stream",
        ),
        ("{regex: '(x)', file: ''}", "file is empty"),
        ("{regex: '(x)', stream: dmesg}", "unknown variant `dmesg`"),
        (
            "{regex: '(x)', prefix: decimal}",
            "unknown variant `decimal`",
        ),
        (
            "{regex: '(x)', all: true, stats: [p101]}",
            "unknown stat 'p101'",
        ),
        (
            "{regex: '(x)', all: true, stats: [median]}",
            "unknown stat 'median'",
        ),
        (
            "{regex: '(x)', all: true, stats: [mean, mean]}",
            "stat 'mean' is listed twice",
        ),
        (
            "{regex: '(x)', all: true, warmup: some}",
            "warmup is a number of samples or 'auto'",
        ),
        (
            "{regex: '(x)', warmup: 3}",
            "warmup and stats apply to series",
        ),
        (
            "{json: 'a.\"b'}",
            "invalid json path 'a.\"b': a quote is not closed",
        ),
        ("{json: 'a..b'}", "a component is empty"),
        ("{csv: ''}", "csv names no column"),
        ("{csv: c, all: true}", "all applies to regex results"),
        (
            "{regex: '(x)', json: a}",
            "needs exactly one of regex, json or csv",
        ),
        ("{regex: '(x)', file: '{{ nope }}/f'}", "nope"),
    ] {
        let e = err(&res(body));
        assert!(e.starts_with("exp.yaml:"), "{body}: {e}");
        assert!(e.contains(what), "{body}: {e}");
    }
    let e =
        err("variables:\n  zc: [a, b]\nsteps:\n  - run: x\n    results:\n      zc_label: '(x)'\n");
    assert!(
        e.contains("'zc_label' is the column of a variable's labels"),
        "{e}"
    );
    let e = err("steps:\n  - run: x\n    results:\n      lat: {regex: '(x)', all: true, stats: [p99]}\n      lat.p99: '(y)'\n");
    assert!(
        e.contains("result 'lat.p99' is extracted by two steps"),
        "{e}"
    );
    let ok = parse(&res(
        "{file: '{{ run_dir }}/x.csv', csv: c, in: ns, unit: s, prefix: binary, warmup: auto, stats: [count, p99.9]}",
    ))
    .unwrap();
    let infos = ok.result_infos();
    let names: Vec<(&str, &str, bool)> = infos
        .iter()
        .map(|i| (i.name.as_str(), i.unit.as_str(), i.series))
        .collect();
    assert_eq!(
        names,
        [
            ("r", "s", true),
            ("r.count", "", false),
            ("r.p99.9", "s", false),
            ("step1.duration", "s", false)
        ]
    );
}

#[test]
fn ready_ports_are_numbers_or_templates() {
    let step = |port: &str| {
        format!("variables:\n  port: 5000\nsteps:\n  - run: x\n    background: true\n    ready: {{port: {port}}}\n  - run: y\n")
    };
    parse(&step("5201")).unwrap();
    parse(&step("\"{{ port }}\"")).unwrap();
    for (port, what) in [
        ("0", "ready port '0' is not a port number"),
        ("70000", "ready port '70000' is not a port number"),
        ("http", "ready port 'http' is not a port number"),
        ("\"{{ nope }}\"", "nope"),
    ] {
        let e = err(&step(port));
        assert!(e.starts_with("exp.yaml:6:"), "{port}: {e}");
        assert!(e.contains(what), "{port}: {e}");
    }
}

#[test]
fn count_and_across_are_checked_at_load() {
    let step = |more: &str| {
        format!("variables:\n  c: [1, 2]\nsteps:\n  - name: s\n    role: r\n    run: x\n{more}")
    };
    for (more, what) in [
        (
            "    count: -1\n",
            "count '-1' is not a whole number of machines",
        ),
        ("    count: 1.5\n", "count '1.5' is not a whole number"),
        ("    count: lots\n", "count 'lots' is not a whole number"),
        (
            "    count: \"{{ nope }}\"\n",
            "template: undefined name 'nope'",
        ),
        (
            "    results:\n      g: {regex: '(x)', across: [median]}\n",
            "unknown aggregate 'median' in across (sum, mean, min, max)",
        ),
        (
            "    results:\n      g: {regex: '(x)', across: [sum, sum]}\n",
            "across lists 'sum' twice",
        ),
        (
            "    results:\n      g: {csv: g, across: [sum]}\n",
            "across aggregates one number per machine",
        ),
        (
            "    results:\n      g: {json: g, stats: [max], across: [max]}\n",
            "'max' is both a stat and an aggregate",
        ),
        (
            "    results:\n      g: {regex: '(x)', across: [sum]}\n      g.sum: '(y)'\n",
            "result 'g.sum'",
        ),
        (
            "    results:\n      g: {expr: 'c', across: [sum]}\n",
            "expr takes only unit and better",
        ),
    ] {
        let e = err(&step(more));
        assert!(e.contains(what), "{more:?}: {e}");
        assert!(e.starts_with("exp.yaml:"), "{e}");
    }
    let e = parse(&step(
        "    count: \"{{ c }}\"\n    results:\n      g: {regex: '(x)', unit: ms, across: [sum, max]}\n",
    ))
    .unwrap();
    assert_eq!(e.steps[0].count.as_ref().unwrap().text, "{{ c }}");
    let names: Vec<(String, String)> = e
        .result_infos()
        .into_iter()
        .map(|i| (i.name, i.unit))
        .collect();
    assert!(names.contains(&("g.sum".into(), "ms".into())), "{names:?}");
    assert!(names.contains(&("g.max".into(), "ms".into())), "{names:?}");
    assert_eq!(
        parse(&step("    count: 0\n")).unwrap().steps[0]
            .count
            .as_ref()
            .unwrap()
            .text,
        "0"
    );
}

#[test]
fn aggregates_across_machines_are_results_for_runs_on_and_search_conditions() {
    let src = "variables:\n  clients: [1, 2]\n  rate: {range: [1, 100]}\nruns: {min: 2, max: 4, ci: 5%, on: [goodput.sum]}\nsearch: {variable: rate, condition: 'results[\"goodput.sum\"] > 10 and results[\"goodput.min\"] > 1'}\nsteps:\n  - role: client\n    count: \"{{ clients }}\"\n    run: x\n    results:\n      goodput: {regex: '(\\d+)', across: [sum, min]}\n";
    let e = parse(src).unwrap();
    assert_eq!(e.adaptive.unwrap().targets[0].0, "goodput.sum");
    assert!(e.search.is_some());
    // An aggregate that is not asked for is not a result.
    let bad = src.replace("on: [goodput.sum]", "on: [goodput.max]");
    assert!(err(&bad).contains("goodput.max"), "{}", err(&bad));
}
