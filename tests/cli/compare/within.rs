//! `mpf compare ID --variable NAME=A,B`: an A/B inside one set.

use predicates::prelude::*;

use crate::common::Sandbox;

/// `mode: slow` takes twice as long as `fast` at every x; `pad` is the same either way. Each
/// run's time varies a little with its run number, so that the test has a spread to work on.
const AB: &str = r#"
name: ab
runs: 4
variables:
  x: [1, 2]
  mode: {values: {f: fast, s: slow}}
steps:
  - name: work
    run: |
      base=$(( {{ x }} * 100 + 1{{ run.id }} % 5 ))
      if [ "{{ mode }}" = s ]; then base=$(( base * 2 )); fi
      echo "t=${base}ms"
      echo "pad=7"
    results:
      t: {regex: 't=(\d+ms)', unit: s, better: lower}
      pad: {regex: 'pad=(\d+)', better: higher}
"#;

#[test]
fn an_ab_inside_one_set_matches_points_on_the_other_variables_and_exits_as_compare() {
    let dir = Sandbox::new();
    dir.run_ok("ab.yaml", AB, &["-q", "--no-plot"]);
    // slow against fast: t doubled at both x, pad unchanged: a regression, exit 3.
    let out = dir
        .mpf()
        .args([
            "compare",
            "latest",
            "--variable",
            "mode=fast,slow",
            "--json",
            "-",
        ])
        .assert()
        .code(3);
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let text = v.to_string();
    assert!(
        text.contains("(mode=fast)") && text.contains("(mode=slow)"),
        "{text}"
    );
    assert!(text.contains("within one set: mode=fast (BASE) against mode=slow (NEW)"));
    let entries = v["comparisons"].as_array().expect("comparisons");
    // Two points (x = 1, 2) by two results, matched on x alone.
    assert_eq!(entries.len(), 4, "{v:#}");
    for e in entries {
        assert!(e["point"].get("mode").is_none(), "{e}");
        let verdict = e["verdict"].as_str().unwrap();
        match e["result"].as_str().unwrap() {
            "t" => assert_eq!(verdict, "regression", "{e}"),
            "pad" => assert_eq!(verdict, "unchanged", "{e}"),
            other => panic!("unexpected result {other}"),
        }
    }
    // The other way round is an improvement: exit 0. Values may be given as values or labels.
    dir.mpf()
        .args(["compare", "latest", "--variable", "mode=s,fast"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("mode=slow").and(predicate::str::contains("improvement")));
    // A and B the same (even through its label), an unknown value or variable, a malformed
    // spec, or NEW with --variable: usage errors, exit 2.
    for (args, says) in [
        (vec!["--variable", "mode=fast,f"], "the same value"),
        (
            vec!["--variable", "mode=fast,medium"],
            "which takes 'fast', 'slow'",
        ),
        (
            vec!["--variable", "speed=fast,slow"],
            "no variable 'speed' (it has: x, mode)",
        ),
        (vec!["--variable", "mode=fast"], "expected NAME=A,B"),
        (
            vec!["latest", "--variable", "mode=fast,slow"],
            "cannot be used with",
        ),
    ] {
        dir.mpf()
            .args(["compare", "latest"])
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(says));
    }
    // A numeric variable's values match as numbers: x=1 against x=2.0, t about doubled for
    // fast and slow alike: a regression.
    dir.mpf()
        .args(["compare", "latest", "--variable", "x=1,2.0"])
        .assert()
        .code(3)
        .stdout(predicate::str::contains("x=1").and(predicate::str::contains("x=2")));
}
