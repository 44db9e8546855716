//! Every invalid input is refused with exit 2 and a message naming file, line and problem,
//! before any result set is created.

use std::path::Path;

use crate::common::{mpf_in, Sandbox};

fn refuse(src: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.yaml");
    std::fs::write(&p, src).unwrap();
    let out = mpf_in(dir.path())
        .arg("run")
        .arg("bad.yaml")
        .arg("-q")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !dir.path().join("results").exists(),
        "no result set for invalid input"
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    err.trim().to_string()
}

#[test]
fn invalid_inputs_are_refused_with_their_line() {
    let cases: &[(&str, &[u8])] = &[
        ("malformed_yaml", b"steps:\n  - run: [echo\n"),
        ("unknown_key", b"steps:\n  - run: echo\n    bogus: 1\n"),
        ("unknown_top_key", b"stepz:\n  - run: echo\n"),
        ("undefined_name", b"variables:\n  x: [1, 2]\nsteps:\n  - run: echo {{ y }}\n"),
        ("bad_range", b"variables:\n  x: {range: [5, 1]}\nsteps:\n  - run: echo {{ x }}\n"),
        ("bad_factor", b"variables:\n  x: {range: [1, 8], factor: 1}\nsteps:\n  - run: echo\n"),
        ("bad_regex", b"steps:\n  - run: echo\n    results:\n      v: 'a(b'\n"),
        ("result_named_like_variable", b"variables:\n  x: [1]\nsteps:\n  - run: echo\n    results:\n      x: 'x=(\\d)'\n"),
        ("garbage_bytes", b"\xff\xfe\x00garbage\x80\n"),
        ("empty_file", b""),
        ("no_steps", b"name: x\n"),
        ("bad_duration", b"steps:\n  - run: echo\n    timeout: soon\n"),
        ("bad_when", b"variables:\n  a: [1]\n  b:\n    values: [1]\n    when: c == 1\nsteps:\n  - run: echo\n"),
        ("zip_lengths", b"variables:\n  a: [1, 2]\n  b: [1]\n  zip: [a, b]\nsteps:\n  - run: echo\n"),
        ("bad_role_ref", b"steps:\n  - role: server\n    run: echo {{ roles.client.ip }}\n"),
        ("runs_zero", b"runs: 0\nsteps:\n  - run: echo\n"),
        ("huge_space", b"variables:\n  a: {range: [1, 100000]}\n  b: {range: [1, 100000]}\n  c: {range: [1, 100000]}\nsteps:\n  - run: echo\n"),
        ("factor_near_one", b"variables:\n  x: {range: [1, 8], factor: 1.0000001}\nsteps:\n  - run: echo\n"),
        ("too_many_runs", b"runs: 1000000000000\nsteps:\n  - run: echo\n"),
        ("unknown_filter", b"variables:\n  x: [1]\nsteps:\n  - run: echo {{ x | quot }}\n"),
        ("huge_timeout", b"steps:\n  - run: echo\n    timeout: 10000000000000000000\n"),
        ("role_is_a_path", b"steps:\n  - run: echo\n  - role: ../up\n    run: echo\n"),
    ];
    for (name, src) in cases {
        let msg = refuse(src);
        assert!(msg.starts_with("error: bad.yaml:"), "{name}: {msg}");
        insta::assert_snapshot!(*name, msg);
    }
}

#[test]
fn missing_file_and_bad_flags() {
    let dir = Sandbox::new();
    let out = dir.mpf().args(["run", "nope.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.yaml: cannot read experiment file"));
    dir.write("e.yaml", "variables:\n  x: [1]\nsteps:\n  - run: echo\n");
    let out = dir
        .mpf()
        .args(["run", "e.yaml", "--set", "y=1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no variable named 'y'"));
    let out = dir
        .mpf()
        .args(["run", "e.yaml", "--bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = dir.mpf().args(["show", "nothing"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!Path::new(&dir.path().join("results")).exists());
}

/// `mpf check EXPERIMENT -c CLUSTER` in a fresh directory: exit code and stderr.
fn check_with_cluster(exp: &str, cluster: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("e.yaml"), exp).unwrap();
    std::fs::write(dir.path().join("c.yaml"), cluster).unwrap();
    let out = mpf_in(dir.path())
        .args(["check", "e.yaml", "-c", "c.yaml"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert!(!err.contains("panicked"), "{err}");
    (out.status.code(), err)
}

#[test]
fn cluster_values_that_would_reach_a_shell_are_refused_with_their_line() {
    let exp = "steps:\n  - role: r\n    run: echo\n";
    let cases = [
        (
            "namespace_injection",
            "machines:\n  - hostname: h\n    namespaces:\n      - role: r\n        namespace: \"a b'; touch /tmp/pwned; '\"\n",
        ),
        (
            "cpu_id_injection",
            "machines:\n  - hostname: h\n    namespaces:\n      - role: r\n        namespace: ns\n        cpu_id: \"0; id\"\n",
        ),
        (
            "hostname_option",
            "machines:\n  - hostname: -oProxyCommand=touch${IFS}/tmp/pwned\n    role: r\n",
        ),
        ("role_path_in_cluster", "machines:\n  - hostname: h\n    role: /tmp/x\n"),
    ];
    for (name, cluster) in cases {
        let (code, err) = check_with_cluster(exp, cluster);
        assert_eq!(code, Some(2), "{name}: {err}");
        assert!(err.starts_with("error: c.yaml:"), "{name}: {err}");
        insta::assert_snapshot!(name, err);
    }
}

#[test]
fn a_templated_role_is_checked_once_rendered() {
    let dir = Sandbox::new();
    dir.write("e.yaml", "runs: 1\nvariables:\n  target: [\"../../up\"]\nsteps:\n  - role: \"{{ target }}\"\n    run: echo hi\n");
    let out = dir
        .mpf()
        .args(["run", "-q", "--no-plot", "e.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let set = std::fs::read_dir(dir.path().join("results"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let journal = std::fs::read_to_string(set.join("journal.jsonl")).unwrap();
    assert!(
        journal.contains("'../../up' is not a valid role name"),
        "{journal}"
    );
    // Nothing was written outside the run's directory.
    assert!(!dir.path().join("up").exists() && !set.join("up").exists());
}

#[test]
fn overrides_that_make_the_plan_too_big_are_refused() {
    let dir = Sandbox::new();
    dir.write(
        "e.yaml",
        "variables:\n  x: {range: [1, 1000]}\n  y: [1, 2]\nsteps:\n  - run: echo\n",
    );
    for args in [
        &["--runs", "100000"][..],
        &["--set", "y=1,2,3,4,5,6,7,8,9,10,11", "--runs", "1000"][..],
    ] {
        let out = dir
            .mpf()
            .args(["check", "e.yaml"])
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("with --set/--runs") && err.contains("more than the limit of 10000000"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn a_role_no_machine_bears_is_reported_at_the_step_that_names_it() {
    let exp = "steps:\n  - name: a\n    role: server\n    run: echo a\n  - name: b\n    role: sever\n    run: echo b\n";
    let cluster = "machines:\n  - {hostname: localhost, role: server}\n  - {hostname: localhost, role: client}\n";
    let (code, err) = check_with_cluster(exp, cluster);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(
        err,
        "error: e.yaml:6:11: no machine of c.yaml bears role 'sever' (roles there: client, server) (did you mean 'server'?)"
    );
}
