#!/usr/bin/env bash
# Per-run overhead of mpf on remote machines: a RUNS-run sweep whose steps run `true` on two
# roles, each on its own namespace host reached over ssh, against the same two commands issued
# with plain `ssh` over one multiplexed connection per host, in the same session. Builds the
# hosts itself (root, iproute2, openssh-server): two network namespaces on a private bridge
# (10.77.251.0/24), an sshd in each, throwaway keys; everything is removed on exit.
# Usage: sudo bench/ssh-overhead.sh [path/to/mpf] (default: release build).
set -euo pipefail
MPF=$(realpath "${1:-$(dirname "$0")/../target/release/mpf}")
RUNS=${RUNS:-100}
REPS=${REPS:-3}
NET=10.77.251
tag=b$$
work=$(mktemp -d)
cleanup() {
  for i in 1 2; do
    for p in $(ip netns pids mpf-$tag-$i 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    ip netns del mpf-$tag-$i 2>/dev/null || true
    ip link del mpv$tag$i 2>/dev/null || true
  done
  ip link del mpb$tag 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$work/key"
ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
cp "$work/key.pub" "$work/authorized_keys"
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
PermitRootLogin yes
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
    user: root
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
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
bare=() mpf=()
for r in $(seq "$REPS"); do
  for i in 1 2; do ssh "${opts[@]}" -M -N -f -S "$work/ctl$i" root@$NET.$i; done
  s=$(now)
  for _ in $(seq "$RUNS"); do
    ssh "${opts[@]}" -S "$work/ctl1" root@$NET.1 true
    ssh "${opts[@]}" -S "$work/ctl2" root@$NET.2 true
  done
  e=$(now)
  for i in 1 2; do ssh -S "$work/ctl$i" -O exit root@$NET.$i 2>/dev/null; done
  bare+=($(( (e - s) / RUNS )))
  s=$(now); "$MPF" run "$work/true.yaml" -c "$work/cluster.yaml" --quiet --no-plot --results "$work/r$r" 2>/dev/null; e=$(now)
  mpf+=($(( (e - s) / RUNS )))
done
b=$(printf '%s\n' "${bare[@]}" | median)
m=$(printf '%s\n' "${mpf[@]}" | median)
awk -v b="$b" -v m="$m" -v n="$RUNS" 'BEGIN {
  printf "plain ssh over ControlMaster (2 commands per run): %.2f ms/run\n", b / 1e6
  printf "mpf run -c (%d runs, 2 remote roles): %.2f ms/run (whole command, incl. connecting, facts)\n", n, m / 1e6
  printf "ratio mpf / plain ssh: %.2fx\n", m / b
}'
