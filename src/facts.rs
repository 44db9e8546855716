//! Host facts (kernel, CPU model, cores, memory, OS) gathered with one shell script, so the
//! same code serves local and remote machines.

use std::time::Duration;

use crate::exec::Transport;
use crate::store::HostFacts;

/// Prints `key=value` lines; every probe tolerates missing files and tools.
pub(crate) const FACTS_SCRIPT: &str = include_str!("facts.sh");

pub(crate) use crate::model::UNKNOWN;

/// `isolcpus=2-3` of a kernel command line, or None.
fn cmdline_value(cmdline: &str, key: &str) -> Option<String> {
    cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .map(str::to_string)
}

/// Parses the output of `FACTS_SCRIPT`.
pub(crate) fn parse(name: &str, roles: Vec<String>, text: &str) -> HostFacts {
    let mut f = HostFacts {
        name: name.to_string(),
        roles,
        ..Default::default()
    };
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().to_string();
        match k {
            "hostname" => f.hostname = v,
            "kernel" => f.kernel = v,
            "cores" => f.cores = v.parse().unwrap_or(0),
            "memory_kb" => f.memory_bytes = v.parse::<u64>().unwrap_or(0) * 1024,
            "cpu_model" => f.cpu_model = v,
            "os" => f.os = v,
            "swap_kb" => {
                let on = v.parse::<u64>().is_ok_and(|kb| kb > 0);
                f.settings
                    .insert("swap".into(), if on { "on" } else { "off" }.into());
            }
            "cmdline" => {
                // Without the key on the command line the kernel's default holds.
                for (key, default) in [
                    ("isolcpus", "none"),
                    ("nohz_full", "none"),
                    ("mitigations", "auto"),
                ] {
                    let val = cmdline_value(&v, key).unwrap_or_else(|| default.into());
                    f.settings.insert(key.into(), val);
                }
                f.settings.insert(k.into(), v);
            }
            _ if k
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                && !k.is_empty() =>
            {
                f.settings.insert(k.into(), v);
            }
            _ => {}
        }
    }
    f
}

/// Gathers facts from a machine (with the details of `interfaces`); a machine that does not
/// answer in time gets empty facts.
pub(crate) async fn gather(
    t: &dyn Transport,
    roles: Vec<String>,
    interfaces: &[String],
) -> HostFacts {
    let name = t.name().to_string();
    let env = [("MPF_FACT_IFACES".to_string(), interfaces.join(" "))];
    let Ok(mut p) = t.spawn(FACTS_SCRIPT, &env, &[]).await else {
        let mut facts = parse(&name, roles, "");
        facts.settings.extend(t.facts());
        return facts;
    };
    let pgid = p.pgid;
    let waited = tokio::time::timeout(Duration::from_secs(20), p.wait()).await;
    if waited.is_err() {
        t.stop_group(pgid, Duration::from_millis(100)).await;
    }
    let out = p.finish(waited.is_err()).await;
    t.stop_group(pgid, Duration::ZERO).await;
    let mut facts = parse(&name, roles, &String::from_utf8_lossy(&out.stdout));
    facts.settings.extend(t.facts());
    facts
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_facts() {
        let f = super::parse(
            "n1",
            vec!["server".into()],
            "hostname=n1\nkernel=Linux 6.1\ncores=8\nmemory_kb=1024\ncpu_model=Xeon\nos=Debian 12\n",
        );
        assert_eq!(
            (f.cores, f.memory_bytes, f.os.as_str()),
            (8, 1048576, "Debian 12")
        );
        assert_eq!(f.setting("governor"), "unknown");
    }

    #[test]
    fn settings_and_the_kernel_command_line() {
        let f = super::parse(
            "n1",
            vec![],
            "governor=performance\nturbo=false\nswap_kb=0\ncmdline=ro isolcpus=2-3 quiet\niface.eth0.mtu=9000\nbad key=x\n",
        );
        assert_eq!(f.setting("governor"), "performance");
        assert_eq!(f.setting("turbo"), "false");
        assert_eq!(f.setting("swap"), "off");
        assert_eq!(f.setting("isolcpus"), "2-3");
        assert_eq!(f.setting("nohz_full"), "none");
        assert_eq!(f.setting("mitigations"), "auto");
        assert_eq!(f.setting("iface.eth0.mtu"), "9000");
        assert_eq!(f.setting("smt"), "unknown");
        assert!(!f.settings.contains_key("bad key"));
    }

    fn tool(argv: &[&str]) -> Option<String> {
        let out = std::process::Command::new(argv[0])
            .args(&argv[1..])
            .env_remove("OMP_NUM_THREADS")
            .env_remove("OMP_THREAD_LIMIT")
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// The script reads files with builtins instead of starting tools: what it finds is
    /// what the tools say (`uname -sr`, `nproc`, also under a narrower CPU affinity).
    #[test]
    fn the_builtins_agree_with_the_tools() {
        let facts = |prefix: &[&str]| {
            let mut argv = prefix.to_vec();
            argv.extend(["sh", "-c", super::FACTS_SCRIPT]);
            super::parse("here", vec![], &tool(&argv).unwrap())
        };
        let f = facts(&[]);
        assert_eq!(f.kernel, tool(&["uname", "-sr"]).unwrap());
        assert_eq!(f.cores.to_string(), tool(&["nproc"]).unwrap());
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(f.hostname, hostname.trim());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
        let kb = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().strip_suffix(" kB"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap();
        assert_eq!(f.memory_bytes, kb * 1024);
        assert!(["on", "off"].contains(&f.setting("swap")));
        if let Ok(thp) = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled") {
            let word = thp.split_once('[').and_then(|(_, r)| r.split_once(']'));
            assert_eq!(f.setting("thp"), word.unwrap().0);
        }
        if tool(&["taskset", "-c", "0", "true"]).is_some() {
            assert_eq!(facts(&["taskset", "-c", "0"]).cores, 1);
        }
    }

    /// The script reads its longer files with one awk when there is one, with builtins
    /// otherwise: both give the same facts, and a machine without awk gets them all.
    #[test]
    fn the_awk_and_the_builtins_read_the_same_facts() {
        let run = |env: &[(&str, &str)]| {
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(super::FACTS_SCRIPT)
                .envs(env.iter().copied())
                .output()
                .unwrap();
            assert!(out.status.success());
            let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(String::from)
                .collect();
            lines.sort();
            lines
        };
        let with_awk = run(&[]);
        for key in ["cores=", "memory_kb=", "cmdline=", "irqbalance="] {
            assert!(
                with_awk.iter().any(|l| l.starts_with(key)),
                "{key}: {with_awk:?}"
            );
        }
        assert_eq!(with_awk, run(&[("MPF_FACTS_BUILTINS", "1")]));
        // A PATH where the shell finds no awk (nor any other tool).
        let empty = tempfile::tempdir().unwrap();
        let path = empty.path().to_str().unwrap();
        assert_eq!(with_awk, run(&[("PATH", path)]));
    }

    #[test]
    fn the_script_runs_under_a_plain_posix_shell() {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(super::FACTS_SCRIPT)
            .env("MPF_FACT_IFACES", "lo nosuch0")
            .output()
            .unwrap();
        assert!(out.status.success());
        let f = super::parse("here", vec![], &String::from_utf8_lossy(&out.stdout));
        assert!(f.cores >= 1);
        assert_eq!(f.setting("iface.lo.mtu"), "65536");
        assert!(["true", "false"].contains(&f.setting("irqbalance")));
    }
}
