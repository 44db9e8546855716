//! Every invalid input is refused with exit 2 and a message naming file, line and problem,
//! before any result set is created.

use std::path::Path;

use crate::common::mpf_in;

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
    ];
    for (name, src) in cases {
        let msg = refuse(src);
        assert!(msg.starts_with("error: bad.yaml:"), "{name}: {msg}");
        insta::assert_snapshot!(*name, msg);
    }
}

#[test]
fn missing_file_and_bad_flags() {
    let dir = tempfile::tempdir().unwrap();
    let out = mpf_in(dir.path())
        .args(["run", "nope.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.yaml: cannot read experiment file"));
    std::fs::write(
        dir.path().join("e.yaml"),
        "variables:\n  x: [1]\nsteps:\n  - run: echo\n",
    )
    .unwrap();
    let out = mpf_in(dir.path())
        .args(["run", "e.yaml", "--set", "y=1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no variable named 'y'"));
    let out = mpf_in(dir.path())
        .args(["run", "e.yaml", "--bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = mpf_in(dir.path())
        .args(["show", "nothing"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!Path::new(&dir.path().join("results")).exists());
}
