//! Slurm's hostlist syntax: `node[01-16,20]`, `r[1-2]n[01-02]`, `a,b,c`.
//!
//! `expand` agrees with `scontrol show hostnames` (Slurm 22.05, checked against it by the tests
//! below) on every expression scontrol accepts:
//! - names are separated by commas or whitespace outside brackets; empty names are skipped
//!   (`a,,b` is `a b`);
//! - a bracket holds comma-separated numbers and `lo-hi` ranges, `lo <= hi`; every number is
//!   zero-padded to the width of the range's low bound as written (`n[08-11]` is `n08 .. n11`,
//!   `n[8-11]` is `n8 .. n11`, `n[1-02]` is `n1 n2`);
//! - several bracket groups in one name are a product in Slurm's order: the last group varies
//!   fastest, then the first, then the others from first to second-to-last (`r[1-2]n[01-02]`
//!   is `r1n01 r1n02 r2n01 r2n02`; `c[1-2]r[1-2]n[1-2]` starts `c1r1n1 c1r1n2 c2r1n1`); text
//!   after the last group is invalid (`a[1-2]b`), as in Slurm;
//! - duplicates are kept, in the order written (`n[1-2,2]` is `n1 n2 n2`), as Slurm keeps them;
//! - one range holds at most 65,536 names (Slurm's own limit).
//!
//! Where scontrol guesses at malformed input (an unclosed `n[1`, a dangling `n[1-]`, spaces
//! inside brackets) this expander refuses it: a host list that reaches mpf that way is a mistake.
//! Every bound is checked before anything is allocated: at most [`MAX_NAMES`] names in all.

/// The most names one expression may expand to.
pub(crate) const MAX_NAMES: usize = 100_000;
/// The most names one `lo-hi` range may hold (Slurm refuses more).
const MAX_RANGE: u64 = 65_536;
/// The longest expression read.
const MAX_EXPR: usize = 1 << 20;
/// The most digits of one bound (u64 holds 19 for certain).
const MAX_DIGITS: usize = 18;

/// One `lo-hi` (or single `lo`) of a bracket group.
#[derive(Debug, Clone, Copy)]
struct Range {
    lo: u64,
    hi: u64,
    width: usize,
}

impl Range {
    fn len(&self) -> u64 {
        self.hi - self.lo + 1
    }
}

/// One name of the list: literal text and bracket groups, alternating.
#[derive(Debug)]
struct Pattern<'a> {
    /// `(prefix, group)` pairs: the literal text before a group, then the group's ranges.
    parts: Vec<(&'a str, Vec<Range>)>,
    /// Text after the last group (empty when there is a group: Slurm refuses a suffix).
    tail: &'a str,
}

impl Pattern<'_> {
    /// How many names this pattern stands for, or `None` when it overflows.
    fn count(&self) -> Option<u64> {
        self.parts.iter().try_fold(1u64, |acc, (_, group)| {
            let n = group.iter().map(Range::len).sum::<u64>();
            acc.checked_mul(n)
        })
    }

    /// Pushes the names in Slurm's order: the last group varies fastest; the others vary,
    /// slowest first, from the second-to-last group back to the first (Slurm expands the
    /// prefix's last bracket outermost, recursively), so `c[1-2]r[1-2]n[1-2]` starts
    /// `c1r1n1 c1r1n2 c2r1n1 c2r1n2 c1r2n1`.
    fn push_names(&self, out: &mut Vec<String>) {
        if self.parts.is_empty() {
            out.push(self.tail.to_string());
            return;
        }
        let values: Vec<Vec<String>> = self
            .parts
            .iter()
            .map(|(_, group)| {
                group
                    .iter()
                    .flat_map(|r| (r.lo..=r.hi).map(move |n| format!("{n:0w$}", w = r.width)))
                    .collect()
            })
            .collect();
        let last = values.len() - 1;
        // Group indices from the slowest to the fastest.
        let order: Vec<usize> = (0..last).rev().chain([last]).collect();
        let mut index = vec![0usize; values.len()];
        loop {
            let mut name = String::new();
            for (g, (prefix, _)) in self.parts.iter().enumerate() {
                name.push_str(prefix);
                name.push_str(&values[g][index[g]]);
            }
            out.push(name);
            // Advance the odometer, fastest group first.
            let mut carried = true;
            for &g in order.iter().rev() {
                index[g] += 1;
                if index[g] < values[g].len() {
                    carried = false;
                    break;
                }
                index[g] = 0;
            }
            if carried {
                return;
            }
        }
    }
}

/// Expands a hostlist expression into its names, in Slurm's order.
pub(crate) fn expand(expr: &str) -> Result<Vec<String>, String> {
    if expr.len() > MAX_EXPR {
        return Err(format!(
            "host list is {} bytes long, more than {MAX_EXPR}",
            expr.len()
        ));
    }
    let mut patterns = Vec::new();
    let mut total: u64 = 0;
    for item in split_top(expr)? {
        let pattern = parse_item(item)?;
        total = pattern
            .count()
            .and_then(|n| total.checked_add(n))
            .filter(|&n| n <= MAX_NAMES as u64)
            .ok_or_else(|| {
                format!(
                    "host list `{}` names more than {MAX_NAMES} hosts",
                    shown(expr)
                )
            })?;
        patterns.push(pattern);
    }
    let mut out = Vec::with_capacity(total as usize);
    for p in &patterns {
        p.push_names(&mut out);
    }
    Ok(out)
}

/// The expression cut short for an error message.
fn shown(expr: &str) -> String {
    const MAX: usize = 80;
    match expr.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &expr[..i]),
        None => expr.to_string(),
    }
}

/// Splits at commas and whitespace outside brackets, skipping empty items.
fn split_top(expr: &str) -> Result<Vec<&str>, String> {
    let mut items = Vec::new();
    let mut depth = false;
    let mut start = 0;
    for (i, c) in expr.char_indices() {
        match c {
            '[' if depth => return Err(format!("nested `[` in host list `{}`", shown(expr))),
            '[' => depth = true,
            ']' if !depth => return Err(format!("`]` without `[` in host list `{}`", shown(expr))),
            ']' => depth = false,
            ',' | ' ' | '\t' | '\n' | '\r' if !depth => {
                if i > start {
                    items.push(&expr[start..i]);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth {
        return Err(format!("unclosed `[` in host list `{}`", shown(expr)));
    }
    if start < expr.len() {
        items.push(&expr[start..]);
    }
    Ok(items)
}

fn parse_item(item: &str) -> Result<Pattern<'_>, String> {
    let mut parts = Vec::new();
    let mut rest = item;
    while let Some(open) = rest.find('[') {
        let close = open
            + rest[open..]
                .find(']')
                .expect("split_top checked the brackets");
        let group = parse_group(&rest[open + 1..close])
            .map_err(|e| format!("{e} in host list item `{}`", shown(item)))?;
        parts.push((&rest[..open], group));
        rest = &rest[close + 1..];
    }
    if !parts.is_empty() && !rest.is_empty() {
        return Err(format!(
            "text `{}` after the last `]` in host list item `{}` (Slurm refuses it too)",
            shown(rest),
            shown(item)
        ));
    }
    Ok(Pattern { parts, tail: rest })
}

fn parse_group(body: &str) -> Result<Vec<Range>, String> {
    body.split(',').map(parse_range).collect()
}

fn parse_range(text: &str) -> Result<Range, String> {
    let (lo_s, hi_s) = text.split_once('-').unwrap_or((text, text));
    let lo = parse_bound(lo_s, text)?;
    let hi = parse_bound(hi_s, text)?;
    if lo > hi {
        return Err(format!("range `{text}` runs backwards"));
    }
    if hi - lo >= MAX_RANGE {
        return Err(format!("range `{text}` holds more than {MAX_RANGE} hosts"));
    }
    Ok(Range {
        lo,
        hi,
        width: lo_s.len(),
    })
}

fn parse_bound(s: &str, range: &str) -> Result<u64, String> {
    if s.is_empty() || s.len() > MAX_DIGITS || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid range `{range}`"));
    }
    s.parse().map_err(|_| format!("invalid range `{range}`"))
}

/// Folds names into a hostlist (`node[03-60],gw`): the inverse of [`expand`] up to order, for
/// messages about many machines. Names are grouped by their text before a trailing number, the
/// groups in the order their first name appears; numbers within a group are sorted, duplicates
/// dropped, zero padding kept (a run only joins numbers that `expand` would write back alike).
pub(crate) fn compress(names: &[String]) -> String {
    // (prefix, [(number, digits as written)]) in order of first appearance; names without a
    // trailing number stand alone.
    let mut groups: Vec<(&str, Vec<(u64, &str)>)> = Vec::new();
    let mut plain: Vec<(usize, &str)> = Vec::new();
    for name in names {
        let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let (prefix, num) = name.split_at(name.len() - digits);
        let parsed = (!num.is_empty() && num.len() <= MAX_DIGITS)
            .then(|| num.parse::<u64>().ok())
            .flatten();
        let Some(n) = parsed else {
            if !plain.iter().any(|(_, p)| p == name) {
                plain.push((groups.len(), name));
                groups.push((name, Vec::new()));
            }
            continue;
        };
        match groups
            .iter_mut()
            .find(|(p, nums)| *p == prefix && !nums.is_empty())
        {
            Some((_, nums)) => nums.push((n, num)),
            None => groups.push((prefix, vec![(n, num)])),
        }
    }
    let mut out: Vec<String> = Vec::with_capacity(groups.len());
    for (prefix, mut nums) in groups {
        if nums.is_empty() {
            out.push(prefix.to_string());
            continue;
        }
        nums.sort_by_key(|a| (a.0, a.1.len()));
        nums.dedup_by(|a, b| a.1 == b.1);
        let runs = runs(&nums);
        if runs.len() == 1 && runs[0].0 == runs[0].1 {
            out.push(format!("{prefix}{}", runs[0].0));
        } else {
            let body: Vec<String> = runs
                .iter()
                .map(|(lo, hi)| {
                    if lo == hi {
                        lo.to_string()
                    } else {
                        format!("{lo}-{hi}")
                    }
                })
                .collect();
            out.push(format!("{prefix}[{}]", body.join(",")));
        }
    }
    out.join(",")
}

/// Consecutive runs of numbers sorted by (number, length), as `(low, high)` texts; a number joins
/// a run ending just below it only when formatting it at the run's width writes it as it was
/// written (`9` joins `8` but not `08`, `10` joins both).
fn runs<'a>(nums: &[(u64, &'a str)]) -> Vec<(&'a str, &'a str)> {
    // (low text, high text, width); `below` holds the runs ending at `number - 1`, `at` those
    // ending at `number`.
    let mut runs: Vec<(&str, &str, usize)> = Vec::new();
    let (mut below, mut at): (Vec<usize>, Vec<usize>) = (Vec::new(), Vec::new());
    let mut number: Option<u64> = None;
    for &(n, text) in nums {
        if number != Some(n) {
            below = if number.and_then(|m| m.checked_add(1)) == Some(n) {
                std::mem::take(&mut at)
            } else {
                Vec::new()
            };
            at.clear();
            number = Some(n);
        }
        let joins = below
            .iter()
            .position(|&r| format!("{n:0w$}", w = runs[r].2) == text);
        match joins {
            Some(i) => {
                let r = below.remove(i);
                runs[r].1 = text;
                at.push(r);
            }
            None => {
                runs.push((text, text, text.len()));
                at.push(runs.len() - 1);
            }
        }
    }
    runs.into_iter().map(|(lo, hi, _)| (lo, hi)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ex(e: &str) -> Vec<String> {
        expand(e).unwrap_or_else(|err| panic!("{e}: {err}"))
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn expands_lists_ranges_and_padding() {
        assert_eq!(ex("a,b , c"), strings(&["a", "b", "c"]));
        assert_eq!(ex("n[8-11]"), strings(&["n8", "n9", "n10", "n11"]));
        assert_eq!(ex("n[08-10]"), strings(&["n08", "n09", "n10"]));
        assert_eq!(ex("n[1-02]"), strings(&["n1", "n2"]));
        assert_eq!(ex("n[099-101]"), strings(&["n099", "n100", "n101"]));
        let nodes = ex("node[01-16,20]");
        assert_eq!(nodes.len(), 17);
        assert_eq!(nodes[0], "node01");
        assert_eq!(nodes[16], "node20");
        assert_eq!(ex("[1-2]"), strings(&["1", "2"]));
        assert_eq!(ex(""), Vec::<String>::new());
    }

    #[test]
    fn several_groups_are_a_product_in_slurms_order() {
        assert_eq!(
            ex("r[1-2]n[01-02]"),
            strings(&["r1n01", "r1n02", "r2n01", "r2n02"])
        );
        assert_eq!(ex("n[1-2][3-4]"), strings(&["n13", "n14", "n23", "n24"]));
        let three = ex("c[1-2]r[1-2]n[1-2]");
        assert_eq!(
            three[..5],
            strings(&["c1r1n1", "c1r1n2", "c2r1n1", "c2r1n2", "c1r2n1"])
        );
    }

    #[test]
    fn duplicates_are_kept_as_slurm_keeps_them() {
        assert_eq!(ex("a,a,b"), strings(&["a", "a", "b"]));
        assert_eq!(ex("n[1-2,2]"), strings(&["n1", "n2", "n2"]));
    }

    #[test]
    fn refuses_malformed_lists() {
        for bad in [
            "n[3-1]", "n[a-b]", "n[1-3-5]", "n[]", "n[,1]", "n[1,]", "n[1", "n]1", "n[1-]",
            "n[-1]", "a[1-2]b", "n[[1-2]]", "n[1-2]]", "n[ 1-2]",
        ] {
            assert!(expand(bad).is_err(), "{bad} was accepted");
        }
        let err = expand("a[1-2]b").unwrap_err();
        assert!(err.contains("after the last `]`"), "{err}");
    }

    #[test]
    fn bounds_are_checked_before_allocating() {
        assert_eq!(ex("n[1-65536]").len(), 65_536);
        assert!(expand("n[1-65537]")
            .unwrap_err()
            .contains("more than 65536"));
        // Each range is small, the product is not: refused from the counts alone.
        let err = expand("a[1-60000]b[1-60000]c[1-60000]d[1-60000]e[1-60000]").unwrap_err();
        assert!(err.contains("more than 100000 hosts"), "{err}");
        let err = expand("a[1-60000],b[1-60000]").unwrap_err();
        assert!(err.contains("more than 100000 hosts"), "{err}");
        assert!(expand("n[1-9999999999999999999999]").is_err());
        assert!(expand(&"a,".repeat(MAX_EXPR))
            .unwrap_err()
            .contains("bytes long"));
    }

    #[test]
    fn compresses_keeping_padding_and_prefix_order() {
        let names = ex("node[03-60]");
        assert_eq!(compress(&names), "node[03-60]");
        assert_eq!(
            compress(&strings(&["b2", "a1", "b1", "a3"])),
            "b[1-2],a[1,3]"
        );
        assert_eq!(compress(&strings(&["n9", "n10", "n08"])), "n[08,9-10]");
        assert_eq!(compress(&strings(&["gw", "n1", "gw"])), "gw,n1");
        assert_eq!(compress(&strings(&["n1", "n1"])), "n1");
        assert_eq!(compress(&strings(&["n01", "n1", "n2"])), "n[1-2,01]");
        assert_eq!(compress(&[]), "");
    }

    proptest! {
        #[test]
        fn compress_inverts_expand(
            names in proptest::collection::vec(("[a-c]{1,2}", 0u64..40, 1usize..4), 0..30)
        ) {
            let names: Vec<String> =
                names.iter().map(|(p, n, w)| format!("{p}{n:0w$}")).collect();
            let back = expand(&compress(&names)).unwrap();
            let mut want = names.clone();
            want.sort();
            want.dedup();
            let mut got = back.clone();
            got.sort();
            prop_assert_eq!(got.len(), back.len());
            got.dedup();
            prop_assert_eq!(got.len(), back.len(), "compress wrote a name twice");
            prop_assert_eq!(got, want);
        }

        #[test]
        fn expand_never_panics(s in "[a-z0-9\\[\\],\\- ]{0,40}") {
            let _ = expand(&s);
        }
    }

    /// The expressions compared with the real `scontrol show hostnames`.
    const AGAINST_SCONTROL: &[&str] = &[
        "n1",
        "a,b,c",
        "a b",
        "a,,b",
        "a,a,b",
        "n[1-3]",
        "node[01-16,20]",
        "node[1-16,20]",
        "r[1-2]n[01-02]",
        "n[9-10]x[1-2]",
        "n[1-2][3-4]",
        "n[1-2,2]",
        "n[001-3]",
        "n[8-11]",
        "n[08-11]",
        "n[01-2]",
        "n[1-02]",
        "n[099-101]",
        "n[0-0]",
        "n[00-02]",
        "[1-2]",
        "n[1-2],m[3-4]",
        "x[1-3],n[2]",
        "n.x[1-2]",
        "N[1-2]",
        "a-b",
        "rack[1-3]-node[01-04]",
        "n[1-2]x[3]",
        "n[5,1-3,4]",
        "c[1-2]r[1-2]n[1-2]",
        "a[1-2]b[1-2]c[1-3]d[1-2]",
        "host-1,host-2.example.org",
        "n[1-300]",
        "n[98-102]",
        "n[0098-0102]",
        "n[3],m,n[1-2]",
        "node[1-65536]",
    ];

    /// Compares with Slurm's own expansion where `scontrol` is installed (it needs no running
    /// slurmctld, only a configuration file, which the test writes).
    #[test]
    fn agrees_with_scontrol_show_hostnames() {
        let scontrol = "scontrol";
        if std::process::Command::new(scontrol)
            .arg("--version")
            .output()
            .is_err()
        {
            if std::env::var_os("MPF_REQUIRE_SLURM").is_some() {
                panic!("scontrol not found and MPF_REQUIRE_SLURM is set");
            }
            eprintln!("scontrol not installed: comparison skipped");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("slurm.conf");
        std::fs::write(
            &conf,
            "ClusterName=hostlist\nSlurmctldHost=localhost\nNodeName=n1\nPartitionName=p Nodes=n1\n",
        )
        .unwrap();
        let mut compared = 0;
        for expr in AGAINST_SCONTROL {
            let out = std::process::Command::new(scontrol)
                .args(["show", "hostnames", expr])
                .env("SLURM_CONF", &conf)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.is_empty(), "scontrol refused {expr}: {stderr}");
            let theirs: Vec<String> = String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect();
            assert_eq!(ex(expr), theirs, "{expr}");
            compared += 1;
        }
        // What scontrol refuses (it prints "Invalid hostlist" and exits 0), this refuses too.
        for expr in [
            "n[3-1]",
            "a[1-2]b",
            "n[1-2].x",
            "n[1-65537]",
            "n[]",
            "n[1,]",
        ] {
            let out = std::process::Command::new(scontrol)
                .args(["show", "hostnames", expr])
                .env("SLURM_CONF", &conf)
                .output()
                .unwrap();
            assert!(out.stdout.is_empty(), "scontrol accepted {expr}");
            assert!(String::from_utf8_lossy(&out.stderr).contains("Invalid hostlist"));
            assert!(expand(expr).is_err(), "{expr} was accepted");
            compared += 1;
        }
        assert_eq!(compared, AGAINST_SCONTROL.len() + 6);
    }
}
