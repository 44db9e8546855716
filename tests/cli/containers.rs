//! Containers as machines (SPEC §18.2) with a real podman: images are built here from the
//! machine's static busybox (`examples/container-image.sh`, nothing pulled), and podman runs
//! with the test bed's `containers.conf` (runc, ulimits this kind of machine allows) passed
//! through `CONTAINERS_CONF`, as a user's own engine configuration is. `MPF_REQUIRE_PODMAN=1`
//! (set by `.ci/run`) makes a missing podman, runc or busybox a failure, never a skip.

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::time::{Duration, Instant};

use crate::common::{exits, journal, manifest, mpf_in, only_set, write};

/// The test bed's engine configuration: runc (crun fails here setting rlimits) and limits
/// under the machine's hard ones.
const CONTAINERS_CONF: &str = "[engine]\nruntime = \"runc\"\n[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=4096:4096\"]\n";

struct PodmanBed {
    dir: tempfile::TempDir,
    conf: PathBuf,
    images: Vec<String>,
}

fn missing() -> Option<String> {
    for tool in ["podman", "runc", "busybox"] {
        let found = StdCommand::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!("{tool} is not installed"));
        }
    }
    None
}

impl PodmanBed {
    /// A bed, or `None` (after `SKIP test: why`) when podman cannot be used here.
    fn new(test: &str) -> Option<PodmanBed> {
        if let Some(why) = missing() {
            assert!(
                std::env::var_os("MPF_REQUIRE_PODMAN").is_none_or(|v| v != "1"),
                "{test}: podman is required (MPF_REQUIRE_PODMAN=1) but {why}"
            );
            println!("SKIP {test}: {why}");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let conf = write(dir.path(), "containers.conf", CONTAINERS_CONF);
        Some(PodmanBed {
            dir,
            conf,
            images: Vec::new(),
        })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn podman(&self) -> StdCommand {
        let mut c = StdCommand::new("podman");
        c.env("CONTAINERS_CONF", &self.conf);
        c
    }

    fn mpf(&self) -> assert_cmd::Command {
        let mut c = mpf_in(self.path());
        c.env("CONTAINERS_CONF", &self.conf);
        c
    }

    /// `mpf run -c CLUSTER EXP` in the background, to be killed.
    fn spawn_run(&self, cluster: &Path, exp: &Path) -> std::process::Child {
        StdCommand::new(assert_cmd::cargo::cargo_bin("mpf"))
            .current_dir(self.path())
            .env("MPF_RESULTS", self.path().join("results"))
            .env("CONTAINERS_CONF", &self.conf)
            .args(["run", "-c"])
            .arg(cluster)
            .arg(exp)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    }

    /// SIGKILL of `mpf`, then no container named `prefix...` may be left (the watcher's work).
    fn kill_and_expect_no_container(&self, mut mpf: std::process::Child, prefix: &str) {
        mpf.kill().unwrap();
        mpf.wait().unwrap();
        wait_until(Duration::from_secs(30), "no container left", || {
            self.containers(prefix).is_empty()
        });
    }

    /// Builds `localhost/NAME` with `text` in its /etc/mpf-image, with the example's script.
    fn image(&mut self, name: &str, text: &str) -> String {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/container-image.sh");
        let image = format!("localhost/{name}");
        let out = StdCommand::new("sh")
            .arg(script)
            .args([&image, text])
            .env("CONTAINERS_CONF", &self.conf)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.images.push(image.clone());
        image
    }

    /// What `podman` prints for `args`.
    fn says(&self, args: &[&str]) -> String {
        let out = self.podman().args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The containers (running or not) whose name starts with `prefix`.
    fn containers(&self, prefix: &str) -> Vec<String> {
        self.says(&["ps", "-a", "--format", "{{.Names}}"])
            .lines()
            .filter(|n| n.starts_with(prefix))
            .map(str::to_string)
            .collect()
    }

    /// Whether the step of container `name` has touched /tmp/started.
    fn started(&self, name: &str) -> bool {
        self.podman()
            .args(["exec", name, "test", "-e", "/tmp/started"])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// `machines:` with the container machine `c1` (role `box`) of `image`, and this machine
    /// as role `here`.
    fn cluster(&self, name: &str, image: &str) -> PathBuf {
        write(
            self.path(),
            name,
            &format!(
                "machines:\n  - {{hostname: localhost, role: here}}\n  - hostname: c1\n    container: {{engine: podman, image: \"{image}\", options: [--env, \"MPF_TEST=a b; $(id)\"]}}\n    role: box\n"
            ),
        )
    }
}

impl Drop for PodmanBed {
    fn drop(&mut self) {
        for image in &self.images {
            let _ = self.podman().args(["rmi", "-f", image]).output();
        }
    }
}

/// Steps, setup (a `sync:` too) and cleanup run in the container: its host name, its file
/// system, the user's `--env` option whole; the run directories come back; the image's digest is in the
/// manifest's host facts; the container is gone at the end.
#[test]
fn steps_setup_and_cleanup_run_in_the_container_and_run_directories_come_back() {
    let test = "steps_setup_and_cleanup_run_in_the_container_and_run_directories_come_back";
    let Some(mut bed) = PodmanBed::new(test) else {
        return;
    };
    let image = bed.image("mpf-test-steps:1", "image-one");
    std::fs::create_dir(bed.path().join("src")).unwrap();
    write(&bed.path().join("src"), "a b.txt", "it's here\n");
    let cluster = bed.cluster("cluster.yaml", &image);
    let exp = write(
        bed.path(),
        "e.yaml",
        "name: ctr-steps\nruns: 2\nvariables:\n  n: [1, 2]\nsetup:\n  - role: box\n    sync: {from: ./src, to: /tmp/synced}\n  - role: box\n    run: echo set-up > /tmp/setup-mark\ncleanup:\n  - role: box\n    run: echo \"cleanup on $(hostname) after $(cat /tmp/setup-mark)\"\nsteps:\n  - name: look\n    role: box\n    run: |\n      echo \"host=$(hostname) image=$(cat /etc/mpf-image) setup=$(cat /tmp/setup-mark) synced=$(cat '/tmp/synced/a b.txt') env=$MPF_TEST n={{ n }}\"\n      echo from-the-container > \"$MPF_RUN_DIR/out.txt\"\n    results:\n      got: 'n=(\\d+)'\n",
    );
    let out = bed
        .mpf()
        .args(["run", "-c"])
        .arg(&cluster)
        .arg(&exp)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let set = only_set(bed.path());
    let records = journal(&set);
    let runs: Vec<_> = records.iter().filter(|r| r["status"] == "ok").collect();
    assert_eq!(runs.len(), 4, "{records:?}");
    for run in 0..4 {
        let dir = set.join(format!("runs/{run:04}/box"));
        let stdout = std::fs::read_to_string(dir.join("look.out")).unwrap_or_default();
        assert!(
            stdout.starts_with(
                "host=c1 image=image-one setup=set-up synced=it's here env=a b; $(id) n="
            ),
            "run {run}: {stdout}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("out.txt")).unwrap(),
            "from-the-container\n"
        );
    }
    let cleanup = std::fs::read_to_string(set.join("cleanup/c1.log")).unwrap();
    assert!(cleanup.contains("cleanup on c1 after set-up"), "{cleanup}");
    // The digest podman gives the image, in the facts of the container machine.
    let digest = bed.says(&["image", "inspect", "--format", "{{.Digest}}", &image]);
    assert!(digest.starts_with("sha256:"), "{digest}");
    let m = manifest(&set);
    let hosts = m["hosts"].as_array().unwrap();
    let c1 = hosts.iter().find(|h| h["name"] == "c1").unwrap();
    assert_eq!(c1["hostname"], "c1");
    assert_eq!(c1["settings"]["container.digest"], digest.as_str());
    assert_eq!(c1["settings"]["container.image"], image.as_str());
    assert_eq!(c1["settings"]["container.engine"], "podman");
    let id = m["id"].as_str().unwrap();
    assert!(
        bed.containers(&format!("mpf-{id}")).is_empty(),
        "removed at the end"
    );
    assert!(bed.containers("mpf-ctr-steps").is_empty());
}

/// SIGKILL of mpf in the middle of a step: the watcher removes the container.
#[test]
fn sigkill_of_mpf_leaves_no_container() {
    let Some(mut bed) = PodmanBed::new("sigkill_of_mpf_leaves_no_container") else {
        return;
    };
    let image = bed.image("mpf-test-kill:1", "image-kill");
    let cluster = bed.cluster("cluster.yaml", &image);
    let exp = write(
        bed.path(),
        "e.yaml",
        "name: ctr-kill\nruns: 1\nsteps:\n  - name: wait\n    role: box\n    run: touch /tmp/started; sleep 300\n",
    );
    let child = bed.spawn_run(&cluster, &exp);
    wait_until(Duration::from_secs(60), "the step started", || {
        bed.containers("mpf-ctr-kill")
            .first()
            .is_some_and(|name| bed.started(name))
    });
    bed.kill_and_expect_no_container(child, "mpf-ctr-kill");
}

/// Two sets on two images: `mpf compare` names the image and its digest among the
/// differences of the environment, as it names a kernel change.
#[test]
fn compare_shows_an_image_change() {
    let Some(mut bed) = PodmanBed::new("compare_shows_an_image_change") else {
        return;
    };
    let one = bed.image("mpf-test-compare:1", "one");
    let two = bed.image("mpf-test-compare:2", "two");
    let exp = write(
        bed.path(),
        "e.yaml",
        "name: ctr-compare\nruns: 2\nsteps:\n  - name: s\n    role: box\n    run: echo v=1\n    results: {v: 'v=(\\d+)'}\n",
    );
    let mut sets = Vec::new();
    for (i, image) in [&one, &two].into_iter().enumerate() {
        let cluster = bed.cluster(&format!("cluster{i}.yaml"), image);
        let results = bed.path().join(format!("results{i}"));
        let out = bed
            .mpf()
            .env("MPF_RESULTS", &results)
            .args(["run", "-c"])
            .arg(&cluster)
            .arg(&exp)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        sets.push(crate::common::only_set_in(&results));
    }
    let out = bed.mpf().arg("compare").args(&sets).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let digest = |image: &str| bed.says(&["image", "inspect", "--format", "{{.Digest}}", image]);
    assert!(text.contains("container.image of c1"), "{text}");
    assert!(text.contains("container.digest of c1"), "{text}");
    assert!(
        text.contains(&digest(&one)) && text.contains(&digest(&two)),
        "{text}"
    );
}

/// The engine's own message reaches the user: an image it does not have, and a runtime its
/// configuration (the user's `CONTAINERS_CONF`, passed through) names and cannot run.
#[test]
fn the_engines_errors_reach_the_user() {
    let Some(mut bed) = PodmanBed::new("the_engines_errors_reach_the_user") else {
        return;
    };
    let exp = write(
        bed.path(),
        "e.yaml",
        "name: ctr-errors\nsteps:\n  - {name: s, role: box, run: 'true'}\n",
    );
    let cluster = bed.cluster("nosuch.yaml", "localhost/mpf-test-nosuch:404");
    let err = exits(bed.mpf().args(["run", "-c"]).arg(&cluster).arg(&exp), 4);
    assert!(
        err.contains("machine c1: cannot start container mpf-ctr-errors-")
            && err.contains("localhost/mpf-test-nosuch:404")
            && err.contains("podman run exit status: 125"),
        "{err}"
    );
    let bad = write(
        bed.path(),
        "bad.conf",
        "[engine]\nruntime = \"mpf-no-such-runtime\"\n",
    );
    let image = bed.image("mpf-test-errors:1", "x");
    let cluster = bed.cluster("cluster.yaml", &image);
    let err = exits(
        bed.mpf()
            .env("CONTAINERS_CONF", &bad)
            .args(["run", "-c"])
            .arg(&cluster)
            .arg(&exp),
        4,
    );
    assert!(err.contains("mpf-no-such-runtime"), "{err}");
    assert!(bed.containers("mpf-ctr-errors").is_empty());
}

/// `examples/container.yaml` on its cluster file, its image built with the example's script.
#[test]
fn the_container_example_runs() {
    let Some(mut bed) = PodmanBed::new("the_container_example_runs") else {
        return;
    };
    bed.image("mpf-example:1", "");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = bed
        .mpf()
        .args(["run", "-c"])
        .arg(root.join("examples/container-cluster.yaml"))
        .arg(root.join("examples/container.yaml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let set = only_set(bed.path());
    let records = journal(&set);
    assert!(
        !records.is_empty() && records.iter().all(|r| r["status"] == "ok"),
        "{records:?}"
    );
    let wheres: Vec<&str> = records
        .iter()
        .filter_map(|r| r["point"]["where"].as_str())
        .collect();
    assert!(
        wheres.contains(&"here") && wheres.contains(&"box"),
        "{records:?}"
    );
}

/// Scraping Prometheus needs an ssh port forward, which `podman exec` cannot give: refused at
/// load (exit 2, at the endpoint's line), before any container starts. No podman needed.
#[test]
fn prometheus_on_a_container_machine_is_refused_at_load() {
    let dir = crate::common::Sandbox::new();
    let cluster = dir.write(
        "cluster.yaml",
        "machines:\n  - hostname: c1\n    role: a\n    container: {image: localhost/none:1}\n",
    );
    let exp = dir.write(
        "prom.yaml",
        "name: prom\nsteps:\n  - name: s\n    role: a\n    run: 'true'\nmonitor:\n  prometheus:\n    - {role: a, port: 9100}\n",
    );
    let err = exits(
        dir.mpf()
            .args(["run", "--quiet"])
            .arg(&exp)
            .arg("-c")
            .arg(&cluster),
        2,
    );
    assert!(
        err.contains("prom.yaml:8:") && err.contains("machine c1 of that role is a container"),
        "{err}"
    );
    assert!(!dir.path().join("results").exists());
}

/// `host:` naming a machine of the cluster: the engine runs there over ssh (a host of the
/// namespace bed, whose sshd accepts `CONTAINERS_CONF` from the machine's `SetEnv`), and the
/// container's steps, run directories and facts are as on this machine; at the end the
/// container is gone, also after SIGKILL of mpf.
#[test]
fn a_container_on_a_machine_reached_over_ssh() {
    let test = "a_container_on_a_machine_reached_over_ssh";
    let Some(mut bed) = PodmanBed::new(test) else {
        return;
    };
    let Some(hosts) = crate::netns::Bed::new(test, 1) else {
        return;
    };
    let image = bed.image("mpf-test-remote:1", "image-remote");
    let sshd = hosts.sshd_pid(0).expect("the host's sshd");
    mount_cgroups_for(sshd);
    let ip = hosts.hosts[0].ip.clone();
    let keys = hosts.ssh_keys(4).replace(
        "IdentitiesOnly=yes]",
        &format!(
            "IdentitiesOnly=yes, \"SetEnv=CONTAINERS_CONF={}\"]",
            bed.conf.display()
        ),
    );
    let cluster = write(
        bed.path(),
        "cluster.yaml",
        &format!(
            "machines:\n  - hostname: {ip}\n{keys}    role: host\n  - hostname: c1\n    container: {{image: \"{image}\", options: [--network, host, --env, \"MPF_TEST=a b; $(id)\"], host: {ip}}}\n    role: box\n"
        ),
    );
    let exp = write(
        bed.path(),
        "e.yaml",
        "name: ctr-remote\nruns: 2\nsteps:\n  - name: look\n    role: box\n    run: |\n      echo \"host=$(hostname) image=$(cat /etc/mpf-image) ip=$(ip -o -4 addr show | grep -c 10.77.) env=$MPF_TEST\"\n      echo back > \"$MPF_RUN_DIR/out.txt\"\n",
    );
    let out = bed
        .mpf()
        .env_remove("CONTAINERS_CONF")
        .args(["run", "-c"])
        .arg(&cluster)
        .arg(&exp)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let set = only_set(bed.path());
    let here = String::from_utf8(StdCommand::new("hostname").output().unwrap().stdout).unwrap();
    let here = here.trim();
    for run in 0..2 {
        let dir = set.join(format!("runs/{run:04}/box"));
        let stdout = std::fs::read_to_string(dir.join("look.out")).unwrap_or_default();
        // The host's network: the bed's address is in the container; with it, the host's
        // name (mpf gives no --hostname with --network host).
        assert_eq!(
            stdout,
            format!("host={here} image=image-remote ip=1 env=a b; $(id)\n"),
            "run {run}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("out.txt")).unwrap(),
            "back\n"
        );
    }
    let m = manifest(&set);
    let c1 = m["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "c1")
        .unwrap()
        .clone();
    let digest = bed.says(&["image", "inspect", "--format", "{{.Digest}}", &image]);
    assert_eq!(c1["settings"]["container.digest"], digest.as_str());
    assert!(bed.containers("mpf-ctr-remote").is_empty());

    // SIGKILL mid-step: the watcher on the engine's machine removes the container.
    let slow = write(
        bed.path(),
        "slow.yaml",
        "name: ctr-remote-kill\nsteps:\n  - {name: wait, role: box, run: touch /tmp/started; sleep 300}\n",
    );
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("mpf"))
        .current_dir(bed.path())
        .env("MPF_RESULTS", bed.path().join("results-kill"))
        .env_remove("CONTAINERS_CONF")
        .args(["run", "-c"])
        .arg(&cluster)
        .arg(&slow)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(60), "the step started", || {
        bed.containers("mpf-ctr-remote-kill")
            .first()
            .is_some_and(|name| bed.started(name))
    });
    child.kill().unwrap();
    child.wait().unwrap();
    wait_until(Duration::from_secs(30), "no container left", || {
        bed.containers("mpf-ctr-remote-kill").is_empty()
    });

    // A profile of images on the remote engine: the container is started again there from
    // each block's image over the same ssh connection.
    bed.image("mpf-test-remote:2", "image-remote-2");
    let per_block = write(
        bed.path(),
        "cluster-images.yaml",
        &format!(
            "machines:\n  - hostname: {ip}\n{keys}    role: host\n  - hostname: c1\n    container: {{image: \"localhost/mpf-test-remote:{{{{ tag }}}}\", host: {ip}}}\n    role: box\n"
        ),
    );
    let images = write(
        bed.path(),
        "images.yaml",
        "name: ctr-remote-images\nruns: 1\norder: sequential\nvariables:\n  tag: {values: ['1', '2'], switch: []}\nsteps:\n  - {name: look, role: box, run: 'cat /etc/mpf-image'}\n",
    );
    let results = bed.path().join("results-images");
    let out = bed
        .mpf()
        .env_remove("CONTAINERS_CONF")
        .env("MPF_RESULTS", &results)
        .args(["run", "-c"])
        .arg(&per_block)
        .arg(&images)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let set = crate::common::only_set_in(&results);
    for (run, marker) in [(0, "image-remote\n"), (1, "image-remote-2\n")] {
        let text = std::fs::read_to_string(set.join(format!("runs/{run:04}/box/look.out")));
        assert_eq!(text.unwrap_or_default(), marker, "run {run}");
    }
    assert!(bed.containers("mpf-ctr-remote-images").is_empty());
}

/// Mounts this machine's cgroup hierarchies in the mount namespace of process `pid` (a
/// bed host's sshd, whose `ip netns exec` mounted a /sys of its own without them), as on the
/// machine: runc needs them to create a container there.
fn mount_cgroups_for(pid: u32) {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut script = String::from("set -e\n");
    for line in info.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let point = left.split(' ').nth(4).unwrap_or("");
        let mut fs = right.split(' ');
        let (kind, _, opts) = (fs.next(), fs.next(), fs.next().unwrap_or(""));
        let opts: Vec<&str> = opts
            .split(',')
            .filter(|o| !matches!(*o, "rw" | "ro"))
            .collect();
        match kind {
            Some("tmpfs") if point == "/sys/fs/cgroup" => {
                script.push_str("mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup\n")
            }
            Some("cgroup2") => script.push_str(&format!(
                "mkdir -p {point}; mount -t cgroup2 none {point}\n"
            )),
            Some("cgroup") => {
                let o = match opts.as_slice() {
                    [named] if named.starts_with("name=") => format!("none,{named}"),
                    o => o.join(","),
                };
                script.push_str(&format!(
                    "mkdir -p {point}; mount -t cgroup -o {o} cgroup {point}\n"
                ));
            }
            _ => {}
        }
    }
    let out = StdCommand::new("nsenter")
        .args(["-t", &pid.to_string(), "-m", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits until `done`, at most `limit` (then fails, naming `what`).
fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A profile over two images (SPEC §18.2): `container: {image: "{{ image }}"}` with
/// `switch: []`. Each block's runs see their image's file, each block's facts carry its
/// image's digest, and no container is left at the end.
#[test]
fn a_profile_of_images_switches_the_container_per_block() {
    let Some(mut bed) = PodmanBed::new("a_profile_of_images_switches_the_container_per_block")
    else {
        return;
    };
    let one = bed.image("mpf-test-profile:1", "marker-one");
    let two = bed.image("mpf-test-profile:2", "marker-two");
    let cluster = bed.cluster("cluster.yaml", "{{ image }}");
    let exp = write(
        bed.path(),
        "e.yaml",
        &format!("name: ctr-profile\nruns: 2\nvariables:\n  image:\n    values: ['{one}', '{two}']\n    switch: []\n  n: [1, 2]\nsteps:\n  - name: look\n    role: box\n    run: echo \"image={{{{ image }}}} marker=$(cat /etc/mpf-image) n={{{{ n }}}}\"\n    results:\n      got: 'n=(\\d+)'\n"),
    );
    let out = bed
        .mpf()
        .args(["run", "-c"])
        .arg(&cluster)
        .arg(&exp)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let set = only_set(bed.path());
    let records = journal(&set);
    let ok: Vec<_> = records.iter().filter(|r| r["status"] == "ok").collect();
    assert_eq!(ok.len(), 8, "{records:?}");
    let mut seen = std::collections::BTreeSet::new();
    for run in 0..8 {
        let stdout =
            std::fs::read_to_string(set.join(format!("runs/{run:04}/box/look.out"))).unwrap();
        let line = stdout.lines().next().unwrap_or_default().to_string();
        let good = [(&one, "marker-one"), (&two, "marker-two")]
            .iter()
            .any(|(image, marker)| line.starts_with(&format!("image={image} marker={marker} ")));
        assert!(good, "run {run}: {line}");
        seen.insert(line.split(' ').nth(1).unwrap_or_default().to_string());
    }
    assert_eq!(seen.len(), 2, "both images ran: {seen:?}");
    let digest = |image: &str| bed.says(&["image", "inspect", "--format", "{{.Digest}}", image]);
    let m = manifest(&set);
    let blocks = m["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    let mut digests = Vec::new();
    for b in blocks {
        let image = b["value"].as_str().unwrap();
        let c1 = b["facts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == "c1")
            .unwrap();
        assert_eq!(c1["settings"]["container.image"], image);
        assert_eq!(c1["settings"]["container.digest"], digest(image).as_str());
        digests.push(digest(image));
    }
    assert_ne!(digests[0], digests[1]);
    assert!(
        digests.iter().all(|d| d.starts_with("sha256:")),
        "{digests:?}"
    );
    assert!(
        bed.containers("mpf-ctr-profile").is_empty(),
        "removed at the end"
    );
}

/// An image may name only the profile's variable, and each of its values must make an image:
/// refused at load with the cluster file's line, exit 2, nothing started.
#[test]
fn an_image_naming_another_variable_is_refused_at_load() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = write(
        tmp.path(),
        "cluster.yaml",
        "machines:\n  - hostname: c1\n    container: {image: \"localhost/b:{{ tag }}\"}\n    role: box\n",
    );
    let cases = [
        (
            "  tag: ['1', '2']\n",
            "which is not the experiment's profile variable",
        ),
        (
            "  other: {values: [a], switch: []}\n",
            "which is not a variable of the experiment",
        ),
        (
            "  tag: {values: ['1', 'a b'], switch: []}\n",
            "variable 'tag' = 'a b': container image 'localhost/b:a b' is not an image reference",
        ),
    ];
    for (vars, what) in cases {
        let exp = write(
            tmp.path(),
            "e.yaml",
            &format!(
                "name: bad\nvariables:\n{vars}steps:\n  - {{name: s, role: box, run: 'true'}}\n"
            ),
        );
        let err = exits(
            mpf_in(tmp.path())
                .args(["run", "-c"])
                .arg(&cluster)
                .arg(&exp),
            2,
        );
        assert!(
            err.contains("cluster.yaml:3:") && err.contains(what),
            "{vars}: {err}"
        );
    }
}

/// A block whose image cannot start fails that block's runs with the engine's message, as a
/// failed switch does; the next block's image starts and its runs are ok.
#[test]
fn a_block_whose_image_cannot_start_fails_only_its_runs() {
    let Some(mut bed) = PodmanBed::new("a_block_whose_image_cannot_start_fails_only_its_runs")
    else {
        return;
    };
    bed.image("mpf-test-blockfail:1", "first");
    bed.image("mpf-test-blockfail:2", "second");
    let cluster = bed.cluster("cluster.yaml", "localhost/mpf-test-blockfail:{{ tag }}");
    let exp = write(
        bed.path(),
        "e.yaml",
        "name: ctr-blockfail\nruns: 1\norder: sequential\nvariables:\n  tag: {values: ['1', '404', '2'], switch: []}\nsteps:\n  - name: s\n    role: box\n    run: echo \"v=1 $(cat /etc/mpf-image)\"\n    results: {v: 'v=(\\d+)'}\n",
    );
    let out = bed
        .mpf()
        .args(["run", "-c"])
        .arg(&cluster)
        .arg(&exp)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let set = only_set(bed.path());
    let records = journal(&set);
    let status: Vec<_> = records
        .iter()
        .map(|r| r["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(status, ["ok", "failed", "ok"], "{records:?}");
    let failed = records[1].to_string();
    assert!(
        failed.contains("from image localhost/mpf-test-blockfail:404"),
        "{failed}"
    );
    for (run, marker) in [(0, "first"), (2, "second")] {
        let text = std::fs::read_to_string(set.join(format!("runs/{run:04}/box/s.out"))).unwrap();
        assert_eq!(text, format!("v=1 {marker}\n"));
    }
    assert!(bed.containers("mpf-ctr-blockfail").is_empty());
}

/// SIGKILL of mpf in the second block of a profile of images: the container of that block is
/// the only one (the first was removed at the switch), and its watcher removes it.
#[test]
fn sigkill_in_a_later_block_leaves_no_container() {
    let Some(mut bed) = PodmanBed::new("sigkill_in_a_later_block_leaves_no_container") else {
        return;
    };
    bed.image("mpf-test-killswitch:1", "first");
    bed.image("mpf-test-killswitch:2", "second");
    let cluster = bed.cluster("cluster.yaml", "localhost/mpf-test-killswitch:{{ tag }}");
    let exp = write(
        bed.path(),
        "e.yaml",
        "name: ctr-killswitch\nruns: 1\norder: sequential\nvariables:\n  tag: {values: ['1', '2'], switch: []}\nsteps:\n  - name: s\n    role: box\n    run: if [ \"$(cat /etc/mpf-image)\" = second ]; then touch /tmp/started; sleep 300; fi\n",
    );
    let child = bed.spawn_run(&cluster, &exp);
    wait_until(
        Duration::from_secs(60),
        "the second block's step started",
        || {
            bed.containers("mpf-ctr-killswitch")
                .first()
                .is_some_and(|name| bed.started(name))
        },
    );
    assert_eq!(bed.containers("mpf-ctr-killswitch").len(), 1);
    bed.kill_and_expect_no_container(child, "mpf-ctr-killswitch");
}
