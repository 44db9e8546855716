#!/usr/bin/env bash
# The cost of monitoring (SPEC §11, docs/monitoring.md):
#  1. the sampler's CPU time as a share of one core at interval 1s and 100ms, on this machine
#     and on a namespace host reached over ssh (there the sshd session relaying its output is
#     counted too);
#  2. a 1-second experiment with monitoring on against the same without it (wall time), on
#     this machine and (3.) on the namespace host over ssh.
# Builds one namespace host itself (root, iproute2, openssh-server) like bench/ssh-overhead.sh;
# everything is removed on exit.
# Usage: sudo bench/monitor-overhead.sh [path/to/mpf] (default: release build).
# SECS (default 60) is how long each sampler runs; RUNS (default 10) the runs of the
# 1-second experiment.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
MPF=$(realpath "${1:-$root/target/release/mpf}")
SECS=${SECS:-60}
RUNS=${RUNS:-10}
SAMPLER="$root/src/monitor/sampler.sh"
NET=10.77.252
tag=m$$
ns=mpf-$tag-1
work=$(mktemp -d)
cleanup() {
  for p in $(ip netns pids $ns 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
  ip netns del $ns 2>/dev/null || true
  ip link del mpv${tag}1 2>/dev/null || true
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
ip netns add $ns
ip link add mpv${tag}1 type veth peer name mpn${tag}1
ip link set mpn${tag}1 netns $ns
ip link set mpv${tag}1 master mpb$tag up
ip netns exec $ns ip addr add $NET.1/24 dev mpn${tag}1
ip netns exec $ns ip link set mpn${tag}1 up
ip netns exec $ns ip link set lo up
cat > "$work/sshd.conf" <<CONF
ListenAddress $NET.1
HostKey $work/host_key
AuthorizedKeysFile $work/authorized_keys
StrictModes no
UsePAM no
PidFile none
PermitRootLogin yes
PasswordAuthentication no
CONF
ip netns exec $ns /usr/sbin/sshd -f "$work/sshd.conf" -E "$work/sshd.log"
echo "$NET.1 $(cat "$work/host_key.pub")" > "$work/known_hosts"
sleep 0.5
ssh_opts=(-i "$work/key" -o UserKnownHostsFile="$work/known_hosts" -o StrictHostKeyChecking=yes -o BatchMode=yes -S "$work/ctl")
ssh "${ssh_opts[@]}" -M -N -f root@$NET.1

# CPU seconds (user + system, reaped children included) of every process in the namespace
# listed in $1, from /proc/PID/stat; prints "pid ticks" lines.
ticks() {
  for p in $(ip netns pids $ns); do
    awk -v p="$p" '{ sub(/.*\) /, ""); print p, $12 + $13 + $14 + $15 }' "/proc/$p/stat" 2>/dev/null || true
  done
}

echo "## 1. the sampler's CPU time ($SECS s each)"
echo "| where | interval | CPU s | share of one core |"
echo "|---|---|---|---|"
for interval in 1 0.1; do
  # Here: bash's `time` counts the sampler and every awk and sleep it reaped.
  TIMEFORMAT='%U %S'
  t=$( { time MPF_MON_INTERVAL=$interval MPF_MON_METRICS="cpu memory net disk" \
      timeout -s TERM "$SECS" sh "$SAMPLER" >/dev/null || true; } 2>&1 | tail -1)
  awk -v t="$t" -v s="$SECS" -v i="$interval" 'BEGIN { split(t, a, " "); c = a[1] + a[2];
    printf "| local | %ss | %.3f | %.2f%% |\n", i, c, 100 * c / s }'
  # Over ssh: the sampler in the namespace host through a session of the master, measured
  # from the namespace's processes (the session's sshd, the sampler's shell and what it
  # reaped) between 1 s after the start and 1 s before the end.
  hz=$(getconf CLK_TCK)
  # shellcheck disable=SC2029 # the interval and duration are meant to expand here
  ssh "${ssh_opts[@]}" root@$NET.1 \
    "MPF_MON_INTERVAL=$interval MPF_MON_METRICS='cpu memory net disk' timeout -s TERM $SECS sh -c \"\$(cat)\"" \
    < "$SAMPLER" >/dev/null || true &
  sleep 1
  ticks > "$work/a"
  sleep $((SECS - 2))
  ticks > "$work/b"
  wait || true
  awk -v s=$((SECS - 2)) -v i="$interval" -v hz="$hz" 'NR == FNR { a[$1] = $2; next }
    ($1 in a) { d += $2 - a[$1] }
    END { printf "| ssh (namespace host) | %ss | %.3f | %.2f%% |\n", i, d / hz, 100 * d / hz / s }' \
    "$work/a" "$work/b"
done

echo
cat > "$work/cluster.yaml" <<YAML
machines:
  - hostname: $NET.1
    user: root
    identity: $work/key
    ssh_options: [UserKnownHostsFile=$work/known_hosts, StrictHostKeyChecking=yes]
    role: far
YAML
# Wall time of a 1-second experiment, monitoring off and on, alternating three times; $1 is
# the step's role, $2 what is shown, the rest mpf's extra arguments.
on_off() {
  local role=$1 title=$2
  shift 2
  : > "$work/times"
  printf 'name: monitor-off\nruns: %s\nsteps:\n  - name: work\n    role: %s\n    run: sleep 1\n' \
    "$RUNS" "$role" > "$work/off.yaml"
  { echo "monitor: {interval: 1s}"; sed 's/monitor-off/monitor-on/' "$work/off.yaml"; } > "$work/on.yaml"
  for _ in 1 2 3; do
    for mode in off on; do
      s=$(date +%s.%N)
      MPF_RESULTS="$work/results" "$MPF" run --quiet --no-plot "$work/$mode.yaml" "$@" >>"$work/mpf.log" 2>&1
      e=$(date +%s.%N)
      echo "$mode $(echo "$e - $s" | bc)" >> "$work/times"
    done
  done
  echo "## $title: a 1-second experiment, $RUNS runs, monitoring off and on (interval 1s)"
  awk -v n="$RUNS" '{ t[$1] += $2; c[$1]++ }
    END { off = t["off"] / c["off"]; on = t["on"] / c["on"];
      printf "| | s per run |\n|---|---|\n| off | %.3f |\n| on | %.3f |\n| ratio | **%.3fx** |\n", off / n, on / n, on / off }' "$work/times"
}
on_off local "2. this machine"
echo
on_off far "3. the namespace host over ssh" -c "$work/cluster.yaml"
