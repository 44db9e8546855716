#!/usr/bin/env bash
# Per-run overhead of mpf on remote machines: a RUNS-run sweep whose steps run `true` on two
# roles, each on its own namespace host reached over ssh, against the same two commands issued
# with plain `ssh` over one multiplexed connection per host, in the same session. Builds the
# hosts itself (root, iproute2, openssh-server, useradd): two network namespaces on a private
# bridge (10.77.251.0/24), an sshd in each, throwaway keys, and a throwaway user whose login
# shell is /bin/sh and whose home holds no rc file, so that a session costs what sshd and sh
# cost and nothing hides mpf's own work (root's .bashrc may run pyenv and the like, 100 ms a
# session). Both mpf and the baseline log in as that user. Everything is removed on exit.
# Besides wall time it reports CPU time per run (every process of both sides: mpf or the shell
# loop, the ssh clients, the sshds and what they start), from a cpuacct cgroup of its own when
# the machine has cgroup v1's cpuacct: on a machine shared with builds, wall time measures the
# scheduler as much as mpf, CPU time much less so.
# Usage: sudo bench/ssh-overhead.sh [path/to/mpf] (default: release build).
set -euo pipefail
MPF=$(realpath "${1:-$(dirname "$0")/../target/release/mpf}")
RUNS=${RUNS:-100}
REPS=${REPS:-5}
NET=10.77.251
tag=b$$
user=mpfbench$$
work=$(mktemp -d)
cleanup() {
  for i in 1 2; do
    for p in $(ip netns pids mpf-$tag-$i 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    ip netns del mpf-$tag-$i 2>/dev/null || true
    ip link del mpv$tag$i 2>/dev/null || true
  done
  ip link del mpb$tag 2>/dev/null || true
  userdel "$user" 2>/dev/null || true
  rm -rf "$work"
  if [ -n "$cg" ]; then echo $$ > "${cg%/*}/tasks"; rmdir "$cg"; fi 2>/dev/null || true
}
cg=/sys/fs/cgroup/cpuacct/mpf-bench-$$
trap cleanup EXIT
# Everything started from here on (sshds, masters, mpf) is accounted in the cgroup.
if mkdir "$cg" 2>/dev/null && echo $$ > "$cg/tasks"; then :; else cg=; fi
mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$work/key"
ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
cp "$work/key.pub" "$work/authorized_keys"
# sshd reads the keys file as the user: the directory is traversable, the file readable.
chmod 711 "$work"
chmod 644 "$work/authorized_keys"
# '*' and not useradd's locked '!': without PAM, sshd refuses locked accounts.
useradd -M -d "$work/home" -s /bin/sh -p '*' "$user"
mkdir -m 700 "$work/home"
chown "$user" "$work/home"
ip link add mpb$tag type bridge
ip addr add $NET.254/24 dev mpb$tag
ip link set mpb$tag up
: > "$work/known_hosts"
for i in 1 2; do
  ns=mpf-$tag-$i
  ip netns add $ns
  ip link add mpv$tag$i type veth peer name mpn$tag$i
  ip link set mpn$tag$i netns $ns
  ip link set mpv$tag$i master mpb$tag up
  ip netns exec $ns ip addr add $NET.$i/24 dev mpn$tag$i
  ip netns exec $ns ip link set mpn$tag$i up
  ip netns exec $ns ip link set lo up
  cat > "$work/sshd$i.conf" <<CONF
ListenAddress $NET.$i
HostKey $work/host_key
AuthorizedKeysFile $work/authorized_keys
StrictModes no
UsePAM no
PidFile none
PermitRootLogin no
PasswordAuthentication no
CONF
  ip netns exec $ns /usr/sbin/sshd -f "$work/sshd$i.conf" -E "$work/sshd$i.log"
  echo "$NET.$i $(cat "$work/host_key.pub")" >> "$work/known_hosts"
done
sleep 0.5
opts=(-i "$work/key" -o UserKnownHostsFile="$work/known_hosts" -o StrictHostKeyChecking=yes -o BatchMode=yes)
cat > "$work/cluster.yaml" <<YAML
machines:
  - &m
    hostname: $NET.1
    user: $user
    identity: $work/key
    ssh_options: [UserKnownHostsFile=$work/known_hosts, StrictHostKeyChecking=yes]
    role: a
  - <<: *m
    hostname: $NET.2
    role: b
YAML
cat > "$work/true.yaml" <<YAML
name: ssh-overhead
runs: 1
order: sequential
variables:
  i: {range: [1, $RUNS]}
steps:
  - name: a
    role: a
    run: "true"
  - name: b
    role: b
    run: "true"
YAML

now() { date +%s%N; }
cpu() { if [ -n "$cg" ]; then cat "$cg/cpuacct.usage"; else echo 0; fi; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
bare=() mpf=() bare_cpu=() mpf_cpu=()
for r in $(seq "$REPS"); do
  for i in 1 2; do ssh "${opts[@]}" -M -N -f -S "$work/ctl$i" $user@$NET.$i; done
  c=$(cpu); s=$(now)
  for _ in $(seq "$RUNS"); do
    ssh "${opts[@]}" -S "$work/ctl1" $user@$NET.1 true
    ssh "${opts[@]}" -S "$work/ctl2" $user@$NET.2 true
  done
  e=$(now); d=$(cpu)
  for i in 1 2; do ssh -S "$work/ctl$i" -O exit $user@$NET.$i 2>/dev/null; done
  bare+=($(( (e - s) / RUNS ))) bare_cpu+=($(( (d - c) / RUNS )))
  c=$(cpu); s=$(now)
  "$MPF" run "$work/true.yaml" -c "$work/cluster.yaml" --quiet --no-plot --results "$work/r$r" 2>/dev/null
  e=$(now); d=$(cpu)
  mpf+=($(( (e - s) / RUNS ))) mpf_cpu+=($(( (d - c) / RUNS )))
done
b=$(printf '%s\n' "${bare[@]}" | median)
m=$(printf '%s\n' "${mpf[@]}" | median)
bc=$(printf '%s\n' "${bare_cpu[@]}" | median)
mc=$(printf '%s\n' "${mpf_cpu[@]}" | median)
awk -v b="$b" -v m="$m" -v bc="$bc" -v mc="$mc" -v n="$RUNS" 'BEGIN {
  printf "plain ssh over ControlMaster (2 commands per run): %.2f ms/run\n", b / 1e6
  printf "mpf run -c (%d runs, 2 remote roles): %.2f ms/run (whole command, incl. connecting, facts)\n", n, m / 1e6
  printf "ratio mpf / plain ssh: %.2fx\n", m / b
  if (bc > 0) printf "CPU time per run, both sides: plain ssh %.2f ms, mpf %.2f ms, ratio %.2fx\n", bc / 1e6, mc / 1e6, mc / bc
}'
