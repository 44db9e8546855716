//! Role size as a variable (SPEC §14.5): `count: "{{ clients }}"` runs a step on the first N
//! machines of its role, and `across:` aggregates a result over the machines that ran it. A
//! scaling study over a role of four namespace hosts (see `netns.rs`) is one experiment and
//! one `plot:`; counts beyond the role are refused before anything runs (exit 2, naming the
//! `count:` line and the role's size), also when a search decides the count while it runs.

use std::path::Path;

use crate::common::{journal, manifest, mpf_in, only_set, write, Sandbox};
use crate::netns::Bed;

/// Role `client` on every host of the bed.
fn cluster(bed: &Bed, dir: &Path) -> std::path::PathBuf {
    let mut text = String::from("machines:\n");
    for h in &bed.hosts {
        text.push_str(&format!(
            "  - hostname: {}\n{}    role: client\n",
            h.ip,
            bed.sh_user_keys(4)
        ));
    }
    write(dir, "cluster.yaml", &text)
}

const SCALING: &str = r#"name: scaling
runs: 1
order: sequential
variables:
  clients: [1, 2, 4]
steps:
  - name: load
    role: client
    count: "{{ clients }}"
    run: |
      echo "goodput {{ 100 + node.index }} Mbit/s"
      echo "mpf-result machines {{ node.count }}"
    results:
      goodput: {regex: 'goodput (\d+ Mbit/s)', unit: Mbit/s, across: [sum, mean, min, max]}
      per_client: {expr: "results['goodput.sum'] / clients", unit: Mbit/s}
plot: {x: clients, y: goodput.sum}
"#;

#[test]
fn a_scaling_study_runs_on_the_first_n_machines_and_aggregates_across_them() {
    let Some(mut bed) = Bed::new(
        "a_scaling_study_runs_on_the_first_n_machines_and_aggregates_across_them",
        4,
    ) else {
        return;
    };
    bed.add_sh_user();
    let dir = tempfile::tempdir().unwrap();
    let cluster = cluster(&bed, dir.path());
    let exp = write(dir.path(), "scaling.yaml", SCALING);
    let err = crate::common::exits(
        mpf_in(dir.path())
            .args(["run", "--quiet"])
            .arg(&exp)
            .arg("-c")
            .arg(&cluster),
        0,
    );
    let set = only_set(dir.path());
    let records = journal(&set);
    assert_eq!(records.len(), 3, "{records:?}");
    let ips: Vec<&str> = bed.hosts.iter().map(|h| h.ip.as_str()).collect();
    for rec in &records {
        let n = rec["point"]["clients"].as_u64().unwrap() as usize;
        let res = &rec["results"];
        // The first n machines ran it, each knowing how many run it; the others did not.
        for (i, ip) in ips.iter().enumerate() {
            let own = res[format!("goodput.{ip}")].as_f64();
            if i < n {
                assert_eq!(own, Some(100.0 + i as f64), "{res}");
                assert_eq!(res[format!("machines.{ip}")].as_f64(), Some(n as f64));
            } else {
                assert_eq!(own, None, "machine {i} ran with clients={n}: {res}");
            }
        }
        assert_eq!(rec["steps"].as_array().unwrap().len(), n, "{rec}");
        let sum: f64 = (0..n).map(|i| 100.0 + i as f64).sum();
        assert_eq!(res["goodput.sum"].as_f64(), Some(sum), "{res}");
        assert_eq!(res["goodput.mean"].as_f64(), Some(sum / n as f64), "{res}");
        assert_eq!(res["goodput.min"].as_f64(), Some(100.0), "{res}");
        assert_eq!(res["goodput.max"].as_f64(), Some(99.0 + n as f64), "{res}");
        // A derived result reads the aggregate.
        assert_eq!(res["per_client"].as_f64(), Some(sum / n as f64), "{res}");
    }
    // Declared once for the role, in the result's unit (not once per machine).
    let m = manifest(&set);
    let results = m["results"].as_array().unwrap();
    let info = |name: &str| results.iter().find(|r| r["name"] == name).cloned();
    for agg in ["sum", "mean", "min", "max"] {
        let i = info(&format!("goodput.{agg}")).unwrap_or_else(|| panic!("{results:?}"));
        assert_eq!(i["unit"], "Mbit/s", "{i}");
        assert!(info(&format!("goodput.{agg}.{}", ips[0])).is_none());
    }
    // `plot: {x: clients, y: goodput.sum}`: throughput against the number of clients.
    let plots: Vec<String> = std::fs::read_dir(set.join("plots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        plots.iter().any(|p| p.contains("goodput.sum")),
        "{plots:?} ({err})"
    );
    // Shown, exported and compared like any result.
    let show = mpf_in(dir.path())
        .args(["show", "latest", "--format", "csv"])
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&show.stdout);
    assert!(csv.lines().next().unwrap().contains("goodput.sum"), "{csv}");
    // `mpf extract` computes the aggregates again from the stored outputs.
    let out = mpf_in(dir.path())
        .arg("extract")
        .arg(&set)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = journal(&set);
    for (a, b) in records.iter().zip(&again) {
        assert_eq!(
            a["results"], b["results"],
            "mpf extract changed the results"
        );
        assert_eq!(b["status"], "ok");
    }
}

#[test]
fn a_count_beyond_the_role_is_refused_before_anything_runs() {
    let sb = Sandbox::new();
    // Two machines bear `client`; no connection is made before the count is judged.
    let cluster = sb.write(
        "cluster.yaml",
        "machines:\n  - {hostname: 192.0.2.1, role: client}\n  - {hostname: 192.0.2.2, role: client}\n",
    );
    let exp = sb.write("scaling.yaml", SCALING);
    let err = crate::common::exits(
        sb.mpf()
            .args(["run", "--quiet"])
            .arg(&exp)
            .arg("-c")
            .arg(&cluster),
        2,
    );
    assert!(
        err.contains("scaling.yaml:9:")
            && err.contains(
                "step 'load' runs on 4 machines of role 'client' at clients = 4, but role 'client' has 2 machines"
            ),
        "{err}"
    );
    assert!(!sb.path().join("results").exists(), "nothing ran");
    // Without a cluster file every role is this one machine.
    let err = crate::common::exits(sb.mpf().args(["run", "--quiet"]).arg(&exp), 2);
    assert!(
        err.contains("at clients = 2, but role 'client' has 1 machine"),
        "{err}"
    );
    // Not a number of machines.
    let bad = sb.write(
        "bad.yaml",
        "variables:\n  c: [1, many]\nsteps:\n  - role: a\n    count: \"{{ c }}\"\n    run: 'true'\n",
    );
    let err = crate::common::exits(sb.mpf().args(["run", "--quiet"]).arg(&bad), 2);
    assert!(
        err.contains("bad.yaml:5:") && err.contains("is 'many', not a whole number of machines"),
        "{err}"
    );
}

#[test]
fn a_count_a_search_decides_is_judged_before_each_run() {
    let sb = Sandbox::new();
    // The search probes its far end first: 8 clients on a role of one machine.
    let exp = sb.write(
        "search.yaml",
        r#"variables:
  clients: {range: [1, 8]}
search: {variable: clients, condition: "good == 1"}
steps:
  - name: load
    role: client
    count: "{{ clients }}"
    run: echo "good 1"
    results:
      good: 'good (\d+)'
"#,
    );
    let err = crate::common::exits(sb.mpf().args(["run", "--quiet"]).arg(&exp), 2);
    assert!(
        err.contains("search.yaml:7:")
            && err.contains(
                "runs on 8 machines of role 'client' at clients = 8, but role 'client' has 1 machine"
            ),
        "{err}"
    );
    let set = only_set(sb.path());
    assert_eq!(manifest(&set)["status"], "failed");
    // No run was recorded for the refused point.
    assert!(journal(&set)
        .iter()
        .all(|r| r["point"]["clients"].as_f64() != Some(8.0)));
}

#[test]
fn count_zero_runs_the_step_nowhere_and_across_needs_a_number_per_machine() {
    let sb = Sandbox::new();
    sb.run_ok(
        "zero.yaml",
        r#"variables:
  n: [0, 1]
steps:
  - name: bg
    role: other
    count: "{{ n }}"
    run: echo "load 5"
    results:
      load: {regex: 'load (\d+)', across: [sum]}
  - name: main
    run: echo "mpf-result v 1"
"#,
        &["--quiet", "--no-plot"],
    );
    let set = only_set(sb.path());
    let records = journal(&set);
    for rec in &records {
        let n = rec["point"]["n"].as_u64().unwrap();
        assert_eq!(rec["status"], "ok", "{rec}");
        let res = &rec["results"];
        if n == 0 {
            assert!(
                res.get("load").is_none() && res.get("load.sum").is_none(),
                "{res}"
            );
            assert!(res.get("bg.duration").is_none(), "{res}");
        } else {
            // A role of one machine: the aggregate is its value.
            assert_eq!(res["load.sum"].as_f64(), Some(5.0), "{res}");
        }
    }
    // across on a series is refused at load, at the result's line.
    let err = crate::common::exits(
        sb
        .mpf()
        .args(["run", "--quiet"])
        .arg(sb.write(
            "series.yaml",
            "steps:\n  - run: echo 1\n    results:\n      x: {regex: '(\\d+)', all: true, across: [sum]}\n",
        )),
        2,
    );
    assert!(
        err.contains("series.yaml:4:") && err.contains("across aggregates one number per machine"),
        "{err}"
    );
}
