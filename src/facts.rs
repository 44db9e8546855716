//! Host facts (kernel, CPU model, cores, memory, OS) gathered with one shell script, so the
//! same code serves local and remote machines.

use std::time::Duration;

use crate::exec::Transport;
use crate::store::HostFacts;

/// Prints `key=value` lines; every probe tolerates missing files and tools.
pub const FACTS_SCRIPT: &str = r#"echo "hostname=$(cat /proc/sys/kernel/hostname 2>/dev/null || hostname)"
echo "kernel=$(uname -sr 2>/dev/null)"
echo "cores=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null)"
sed -n 's/^MemTotal:[[:space:]]*\([0-9]*\) kB$/memory_kb=\1/p' /proc/meminfo 2>/dev/null
sed -n 's/^model name[[:space:]]*:[[:space:]]*/cpu_model=/p' /proc/cpuinfo 2>/dev/null | head -n 1
( . /etc/os-release 2>/dev/null && echo "os=$PRETTY_NAME" )
"#;

/// Parses the output of `FACTS_SCRIPT`.
pub fn parse(name: &str, roles: Vec<String>, text: &str) -> HostFacts {
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
            _ => {}
        }
    }
    f
}

/// Gathers facts from a machine; a machine that does not answer in time gets empty facts.
pub async fn gather(t: &dyn Transport, roles: Vec<String>) -> HostFacts {
    let name = t.name().to_string();
    let Ok(mut p) = t.spawn(FACTS_SCRIPT, &[], &[]).await else {
        return parse(&name, roles, "");
    };
    let pgid = p.pgid;
    let waited = tokio::time::timeout(Duration::from_secs(20), p.wait()).await;
    if waited.is_err() {
        t.stop_group(pgid, Duration::from_millis(100)).await;
    }
    let out = p.finish(waited.is_err()).await;
    t.stop_group(pgid, Duration::ZERO).await;
    parse(&name, roles, &String::from_utf8_lossy(&out.stdout))
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
    }
}
