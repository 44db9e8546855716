"""A test bed of two "hosts" made of network namespaces, each with its own sshd, on a private
bridge: the Python twin of tests/cli/netns.rs. The subnet is 10.79.N.0/24 (the Rust beds use
10.77), chosen so that no interface of this machine is in it. Needs root, sshd, ssh-keygen and
`ip netns`; `Bed.skip_reason()` says why not (CI sets MPF_REQUIRE_NETNS=1: then a test fails
instead of skipping). Everything is removed by `close()`."""

import os
import random
import shutil
import socket
import subprocess
import tempfile
import time


def _sh(cmd: str) -> str:
    proc = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd}: {proc.stderr.strip()}")
    return proc.stdout


def skip_reason():
    if os.geteuid() != 0:
        return "not root"
    for tool in ("/usr/sbin/sshd", "/usr/bin/ssh-keygen", "/usr/bin/ssh"):
        if not os.path.exists(tool):
            return f"{tool} is not installed"
    probe = f"mpfpy-probe-{os.getpid()}"
    try:
        _sh(f"ip netns add {probe} && ip netns del {probe}")
    except RuntimeError:
        return "ip netns is unavailable"
    return None


class Bed:
    def __init__(self, n: int):
        self.dir = tempfile.mkdtemp(prefix="mpf-pybed-")
        self.tag = f"{os.getpid() & 0xffff:x}{random.randrange(16 ** 2):02x}"
        self.bridge = f"mpyb{self.tag}"
        self.key = os.path.join(self.dir, "client_key")
        self.known_hosts = os.path.join(self.dir, "known_hosts")
        self.hosts = []  # (namespace, ip, veth, the interface inside)
        self.sshd = []
        try:
            self._build(n)
        except BaseException:
            self.close()
            raise

    def _subnet(self) -> int:
        used = _sh("ip -o addr")
        start = random.randrange(250)
        for k in range(250):
            s = (start + k) % 250 + 1
            if f" 10.79.{s}." not in used:
                return s
        raise RuntimeError("no free 10.79.N.0/24 subnet")

    def _build(self, n: int) -> None:
        d = self.dir
        s = self._subnet()
        _sh(f"ip link add {self.bridge} type bridge && "
            f"ip addr add 10.79.{s}.254/24 dev {self.bridge} && ip link set {self.bridge} up")
        _sh(f"ssh-keygen -q -t ed25519 -N '' -f {self.key} && "
            f"cp {self.key}.pub {d}/authorized_keys && "
            f"ssh-keygen -q -t ed25519 -N '' -f {d}/host_key && mkdir -p /run/sshd")
        host_pub = open(f"{d}/host_key.pub").read()
        known = []
        for i in range(n):
            ns, ip = f"mpfpy-{self.tag}-{i}", f"10.79.{s}.{i + 1}"
            veth, peer = f"mpyv{self.tag}{i}", f"mpyn{self.tag}{i}"
            self.hosts.append((ns, ip, veth, peer))
            _sh(f"ip netns add {ns} && ip link add {veth} type veth peer name {peer} && "
                f"ip link set {peer} netns {ns} && ip link set {veth} master {self.bridge} up && "
                f"ip netns exec {ns} ip addr add {ip}/24 dev {peer} && "
                f"ip netns exec {ns} ip link set {peer} up && "
                f"ip netns exec {ns} ip link set lo up")
            cfg = f"{d}/sshd-{i}.conf"
            with open(cfg, "w") as f:
                f.write(f"ListenAddress {ip}\nPort 22\nHostKey {d}/host_key\n"
                        f"AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n"
                        "PidFile none\nPermitRootLogin yes\nPasswordAuthentication no\n"
                        "KbdInteractiveAuthentication no\nLogLevel INFO\nMaxSessions 10\n")
            self.sshd.append(subprocess.Popen(
                ["ip", "netns", "exec", ns, "/usr/sbin/sshd", "-D", "-f", cfg,
                 "-E", f"{d}/sshd-{i}.log"], stdin=subprocess.DEVNULL))
            known.append(f"{ip} {host_pub}")
        with open(self.known_hosts, "w") as f:
            f.write("".join(known))
        for _, ip, _, _ in self.hosts:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection((ip, 22), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"sshd on {ip} did not start")
                    time.sleep(0.02)

    def cluster(self, path, roles) -> str:
        """A cluster file binding roles[i] to host i, as root, with its interface."""
        lines = ["machines:"]
        for role, (_, ip, _, peer) in zip(roles, self.hosts):
            lines += [f"  - hostname: {ip}", "    user: root", f"    identity: {self.key}",
                      f"    ssh_options: [UserKnownHostsFile={self.known_hosts}, "
                      "StrictHostKeyChecking=yes, IdentitiesOnly=yes]",
                      f"    role: {role}",
                      f"    interfaces: [{{name: {peer}, ip: {ip}}}]"]
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return str(path)

    def logins(self, i: int) -> int:
        try:
            return open(f"{self.dir}/sshd-{i}.log").read().count("Accepted publickey")
        except OSError:
            return 0

    def close(self) -> None:
        for p in self.sshd:
            p.kill()
            p.wait()
        self.sshd = []
        for ns, _, veth, _ in self.hosts:
            # Whatever still lives in a namespace of this bed was started by the test.
            subprocess.run(["sh", "-c", f"for p in $(ip netns pids {ns}); do kill -KILL $p; "
                            f"done; ip netns del {ns}; ip link del {veth} 2>/dev/null"],
                           capture_output=True)
        self.hosts = []
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
