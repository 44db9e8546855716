use std::path::Path;

use super::*;

fn parse(src: &str) -> crate::Result<Experiment> {
    parse_experiment(Path::new("exp.yaml"), src)
}

fn err(src: &str) -> String {
    parse(src).expect_err("expected an error").to_string()
}

const BASE: &str = "steps:\n  - run: echo hi\n";

#[test]
fn show_errors() {
    for src in [
        "steps:\n  - run: echo\n    bogus: 1\n",
        "runs: [\n",
        "variables:\n  x: {range: [5, 1]}\nsteps:\n  - run: echo {{ x }}\n",
        "variables:\n  x: [1,2]\nsteps:\n  - run: echo {{ y }}\n",
        "variables:\n  x: [1,2]\nsteps:\n  - run: echo\n    results:\n      x: 'a(b'\n",
        "variables:\n  x: [1,2]\nsteps:\n  - run: echo\n    results:\n      x: 'a(.)'\n",
        "runs: abc\nsteps:\n  - run: x\n",
        "steps:\n  - run: x\n    timeout: 5 parsecs\n",
    ] {
        eprintln!("{}", err(src));
    }
    let _ = BASE;
}
