#!/usr/bin/env bash
# Per-run overhead of mpf on remote machines: a RUNS-run sweep whose steps run `true` on two
# roles, each on its own namespace host reached over ssh, against the same two commands issued
# with plain `ssh` over one multiplexed connection per host, in the same session. Builds the
# hosts itself (root, iproute2, openssh-server, useradd): two network namespaces on a private
# bridge (10.77.251.0/24), an sshd in each, throwaway keys, and a throwaway user whose login
# shell is /bin/sh and whose home holds no rc file, so that a session costs what sshd and sh
# cost and nothing hides mpf's own work (root's .bashrc may run pyenv and the like, 100 ms a
# session). Both mpf and the baseline log in as that user. Everything is removed on exit.
# mpf is timed twice per repetition, with RUNS runs and with one run: the difference is the
# cost of a run (the target: at most 1.3x the two plain commands), the rest is the cost of the
# command itself (connecting, host facts, closing), which the baseline leaves out.
# Besides wall time it reports CPU time per run (every process of both sides: mpf or the shell
# loop, the ssh clients, the sshds and what they start), from a cpuacct cgroup of its own when
# the machine has cgroup v1's cpuacct: on a machine shared with builds, wall time measures the
# scheduler as much as mpf, CPU time much less so.
# STEP (default `true`) is what each step runs, e.g. STEP='echo x > "$MPF_RUN_DIR/f"' for a
# step whose run directory is collected (the baseline still runs `true`).
# Usage: sudo bench/ssh-overhead.sh [path/to/mpf] (default: release build).
set -euo pipefail
MPF=$(realpath "${1:-$(dirname "$0")/../target/release/mpf}")
STEP=${STEP:-true}
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
for n in 1 "$RUNS"; do
  cat > "$work/true$n.yaml" <<YAML
name: ssh-overhead
runs: 1
order: sequential
variables:
  i: {range: [1, $n]}
steps:
  - name: a
    role: a
    run: |
      $STEP
  - name: b
    role: b
    run: |
      $STEP
YAML
done

now() { date +%s%N; }
cpu() { if [ -n "$cg" ]; then cat "$cg/cpuacct.usage"; else echo 0; fi; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
bare=() mpf=() bare_cpu=() mpf_cpu=() one=() one_cpu=()
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
  "$MPF" run "$work/true$RUNS.yaml" -c "$work/cluster.yaml" --quiet --no-plot --results "$work/r$r" 2>/dev/null
  e=$(now); d=$(cpu)
  mpf+=($((e - s))) mpf_cpu+=($((d - c)))
  c=$(cpu); s=$(now)
  "$MPF" run "$work/true1.yaml" -c "$work/cluster.yaml" --quiet --no-plot --results "$work/o$r" 2>/dev/null
  e=$(now); d=$(cpu)
  one+=($((e - s))) one_cpu+=($((d - c)))
done
# Medians of each repetition's figures: whole command per run, a run's own cost, fixed cost.
per_rep() { # TOTALS_N TOTALS_1 -> "whole marginal fixed" per repetition
  local -n tn=$1 t1=$2
  for i in "${!tn[@]}"; do
    echo "$(( tn[i] / RUNS )) $(( (tn[i] - t1[i]) / (RUNS - 1) )) $(( t1[i] - (tn[i] - t1[i]) / (RUNS - 1) ))"
  done
}
col() { awk -v c="$1" '{print $c}' | median; }
b=$(printf '%s\n' "${bare[@]}" | median)
bc=$(printf '%s\n' "${bare_cpu[@]}" | median)
wall=$(per_rep mpf one) cpu_=$(per_rep mpf_cpu one_cpu)
awk -v b="$b" -v bc="$bc" -v n="$RUNS" \
    -v m="$(col 1 <<<"$wall")" -v mr="$(col 2 <<<"$wall")" -v mf="$(col 3 <<<"$wall")" \
    -v mc="$(col 1 <<<"$cpu_")" -v mcr="$(col 2 <<<"$cpu_")" -v mcf="$(col 3 <<<"$cpu_")" 'BEGIN {
  printf "plain ssh over ControlMaster (2 commands per run): %.2f ms/run\n", b / 1e6
  printf "mpf run -c, a run (2 remote roles, %d runs less 1 run): %.2f ms/run, ratio %.2fx\n", n, mr / 1e6, mr / b
  printf "mpf run -c, the command itself (connecting, facts, closing): %.0f ms\n", mf / 1e6
  printf "mpf run -c, whole command / %d runs: %.2f ms/run, ratio %.2fx\n", n, m / 1e6, m / b
  if (bc > 0) printf "CPU per run, both sides: plain ssh %.2f ms; mpf a run %.2f ms (%.2fx), whole command %.2f ms (%.2fx), fixed %.0f ms\n", bc / 1e6, mcr / 1e6, mcr / bc, mc / 1e6, mc / bc, mcf / 1e6
}'
