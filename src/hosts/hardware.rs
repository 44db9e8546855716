//! A set resumed on other machines (a new allocation): does each role still run on the same
//! kind of hardware as in its first session?

use crate::store::HostFacts;

/// What is compared: CPU model, cores and memory.
fn kind(h: &HostFacts) -> String {
    let cpu = if h.cpu_model.is_empty() {
        "unknown CPU"
    } else {
        &h.cpu_model
    };
    let gib = h.memory_bytes as f64 / 1073741824.0;
    format!("{cpu} ({} cores, {gib:.1} GiB)", h.cores)
}

/// One warning per role whose machines now differ in CPU model, cores or memory from the
/// first session's (`first`, as the manifest recorded them).
pub(crate) fn hardware_changes(first: &[HostFacts], now: &[HostFacts]) -> Vec<String> {
    let mut roles: Vec<&str> = Vec::new();
    for h in now {
        for r in &h.roles {
            if !roles.contains(&r.as_str()) {
                roles.push(r);
            }
        }
    }
    let mut out = Vec::new();
    for role in roles {
        let of = |hs: &[HostFacts]| -> Vec<(String, String)> {
            hs.iter()
                .filter(|h| h.roles.iter().any(|r| r == role))
                .map(|h| (h.name.clone(), kind(h)))
                .collect()
        };
        let before = of(first);
        if before.is_empty() {
            continue;
        }
        let differing: Vec<String> = of(now)
            .into_iter()
            .filter(|(_, k)| !before.iter().any(|(_, b)| b == k))
            .map(|(n, k)| format!("{n}: {k}"))
            .collect();
        if !differing.is_empty() {
            let was: Vec<String> = before.iter().map(|(n, k)| format!("{n}: {k}")).collect();
            out.push(format!(
                "role {role} runs on other hardware than in the set's first session, so results may not compare: now {}; first session {}",
                differing.join(", "),
                was.join(", ")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(name: &str, role: &str, cpu: &str, cores: u64, mem: u64) -> HostFacts {
        HostFacts {
            name: name.into(),
            roles: vec![role.into()],
            hostname: name.into(),
            kernel: String::new(),
            cpu_model: cpu.into(),
            cores,
            memory_bytes: mem,
            os: String::new(),
            settings: Default::default(),
        }
    }

    #[test]
    fn a_role_on_other_hardware_is_named() {
        let first = [
            facts("n1", "s", "Xeon", 8, 1 << 34),
            facts("n2", "c", "Xeon", 8, 1 << 34),
        ];
        let same = [
            facts("n7", "s", "Xeon", 8, 1 << 34),
            facts("n8", "c", "Xeon", 8, 1 << 34),
        ];
        assert!(hardware_changes(&first, &same).is_empty());
        let other = [
            facts("n7", "s", "Xeon", 8, 1 << 34),
            facts("n8", "c", "EPYC", 16, 1 << 34),
        ];
        let w = hardware_changes(&first, &other);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("role c runs on other hardware")
                && w[0].contains("n8: EPYC (16 cores"),
            "{}",
            w[0]
        );
    }
}
