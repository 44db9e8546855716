#!/usr/bin/env bash
# Fan-out: what mpf costs on a role bound to HOSTS machines against the same role bound to one.
# Builds HOSTS namespace hosts (default 16) on a private bridge (10.77.253.0/24, or NET), each with
# its own sshd, throwaway keys, and a throwaway user whose login shell is /bin/sh with no rc
# file, so that a session costs what sshd and sh cost and nothing hides mpf's own work (root's
# .bashrc may run pyenv, 100 ms a session). The hosts are built in parallel (64 in 4 to 6 s on
# a loaded 2-core machine, against 8.7 s one after another), each with a /tmp of its own.
# Then, by MODE:
#
# MODE=steps (the default), alternating, REPS times:
#   - `mpf run -c` of a RUNS-run sweep of one `true` step on a role bound to 1 host, then to all
#     HOSTS hosts (the whole command, and per run after start-up: (T(RUNS) - T(1)) / (RUNS - 1),
#     which leaves out connecting, facts and the guards, paid once per session);
#   - the same with plain ssh over one ControlMaster per host: `ssh -S ctl host true` to 1 host,
#     and to HOSTS hosts at once (`&` ... `wait`), RUNS times.
#   The same again with a step that takes SLEEP_MS (default 50) instead of `true`: a step that
#   does something, where the fan-out shows whether the machines run at once.
#   Prints medians and the ratios HOSTS/1, and CPU time per run from two cpuacct cgroups of its
#   own when the machine has cgroup v1's cpuacct: the controller (mpf or the shell loop, the ssh
#   clients and masters) and the hosts (the sshds and everything they start). All hosts share
#   this machine's cores, so the fan-out's wall time is bounded by the CPU that HOSTS hosts
#   take, which a real cluster spreads over its machines.
#   Exits 1 when mpf's per-run ratio (`true`) is above LIMIT (default 2).
# MODE=whole: the whole command (connecting, facts, the runs, closing) of a RUNS-run
#   (default 10) experiment of a `sleep 0.2` step (SLEEP_MS=200) on 1 host and on HOSTS hosts,
#   alternating, REPS times; prints the medians, the ratio and the CPU time of each side (as
#   below, with cpuacct), the controller's CPU per machine, and the phases of the command
#   (from `--progress json`, each event timed as it is read: opening = connecting, host facts
#   and the set's roots, up to `started`; the first run; each later run; closing = from the
#   last run to mpf's exit: the set written, the machines closed); exits 1 above LIMIT (2).
# MODE=cost: the controller's cost at each machine count of COUNTS (default "1 16 HOSTS"): one
#   `mpf run -c` of RUNS runs of a `sleep` step, sampled every 20 ms (pids, fds, memory):
#   the most processes mpf had (itself, its ssh clients and masters), the most file descriptors
#   mpf held, and the most memory of mpf and its processes together (RSS, and PSS, which
#   counts shared pages once).
# MODE=hold: builds the bed, prints its cluster and experiment files and waits until stopped.
# FANOUT sets the cluster file's `fanout:` (default: mpf's, 64). SSH_OPTIONS adds options to
# every machine's `ssh_options` (comma-separated `Key=Value`), e.g.
# SSH_OPTIONS=KexAlgorithms=curve25519-sha256 to measure without OpenSSH 9's default
# post-quantum key exchange (sntrup761x25519), whose key generation is most of a
# connection's cost on the controller (75 ms of CPU against 11 ms here).
# Usage: sudo bench/fanout.sh [path/to/mpf] (default: release build).
set -euo pipefail
MPF=$(realpath "${1:-$(dirname "$0")/../target/release/mpf}")
HOSTS=${HOSTS:-16}
MODE=${MODE:-steps}
case $MODE in
  steps) RUNS=${RUNS:-50} ;;
  whole) RUNS=${RUNS:-10}; SLEEP_MS=${SLEEP_MS:-200} ;;
  cost) RUNS=${RUNS:-10}; SLEEP_MS=${SLEEP_MS:-200}; COUNTS=${COUNTS:-"1 16 $HOSTS"} ;;
  hold) RUNS=${RUNS:-10}; SLEEP_MS=${SLEEP_MS:-200} ;;
  *) echo "MODE is steps, whole, cost or hold" >&2; exit 2 ;;
esac
REPS=${REPS:-3}
LIMIT=${LIMIT:-2}
NET=${NET:-10.77.253}
if ip -o addr | grep -q " $NET\."; then
  echo "$NET.0/24 is in use here (another bed?): set NET=10.77.X to a free one" >&2
  exit 2
fi
tag=f$$
user=mpffan$$
# Outside /tmp: each host has a /tmp of its own (below), which would hide it.
work=$(mktemp -d -p /var/tmp mpf-fanout.XXXXXX)
cg=/sys/fs/cgroup/cpuacct/mpf-fanout-$$
cgh=/sys/fs/cgroup/cpuacct/mpf-fanout-hosts-$$
cleanup() {
  for i in $(seq "$HOSTS"); do
    for p in $(ip netns pids mpf-$tag-$i 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    ip netns del mpf-$tag-$i 2>/dev/null || true
    ip link del mpv$tag$i 2>/dev/null || true
  done
  ip link del mpb$tag 2>/dev/null || true
  userdel "$user" 2>/dev/null || true
  rm -rf "$work"
  if [ -n "$cg" ]; then echo $$ > "${cg%/*}/tasks"; rmdir "$cg" "$cgh"; fi 2>/dev/null || true
}
trap cleanup EXIT
# Everything started from here on (sshds, masters, mpf) is accounted in the cgroup.
# The sshds (and so every process of the hosts' sessions) move to a cgroup of their own.
if mkdir "$cg" "$cgh" 2>/dev/null && echo $$ > "$cg/tasks"; then :; else cg=; fi
mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$work/key"
ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
cp "$work/key.pub" "$work/authorized_keys"
# sshd reads the keys file as the user: the directory traversable, the file readable.
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
# host I: its namespace, its end of a veth pair on the bridge, its sshd (started in parallel:
# each is a handful of `ip` commands and an sshd).
host() {
  local i=$1 ns=mpf-$tag-$1
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
MaxSessions 10
MaxStartups 200
CONF
  # A /tmp of its own, as a machine has: mpf's root there (/tmp/mpf-<set id>) is this host's
  # alone, not one directory that 64 hosts fill and then all remove (64 times the work of a
  # real machine, 5 s at the end of a 64-host run on this bed). `ip netns exec` runs in a
  # mount namespace of its own, where the mount stays.
  ip netns exec $ns sh -c 'mount -t tmpfs -o mode=1777,size=64m tmpfs /tmp && exec "$@"' sh \
    /usr/sbin/sshd -f "$work/sshd$i.conf" -E "$work/sshd$i.log"
}
built=$(date +%s%N)
for i in $(seq "$HOSTS"); do host "$i" & done
wait
for i in $(seq "$HOSTS"); do
  if [ -n "$cg" ]; then
    for p in $(ip netns pids mpf-$tag-$i); do echo "$p" > "$cgh/tasks"; done
  fi
  echo "$NET.$i $(cat "$work/host_key.pub")" >> "$work/known_hosts"
done
# Every sshd listening before anything connects.
for i in $(seq "$HOSTS"); do
  for _ in $(seq 100); do
    ip netns exec mpf-$tag-$i bash -c "exec 3<>/dev/tcp/$NET.$i/22" 2>/dev/null && break
    sleep 0.05
  done
done 2>/dev/null || true
echo "bed of $HOSTS hosts built in $((($(date +%s%N) - built) / 1000000)) ms" >&2
opts=(-i "$work/key" -o UserKnownHostsFile="$work/known_hosts" -o StrictHostKeyChecking=yes -o BatchMode=yes)

# cluster N: role `r` on the first N hosts.
cluster() {
  if [ -n "${FANOUT:-}" ]; then echo "fanout: $FANOUT"; fi
  echo "machines:"
  for i in $(seq "$1"); do
    cat <<YAML
  - hostname: $NET.$i
    user: $user
    identity: $work/key
    ssh_options: [UserKnownHostsFile=$work/known_hosts, StrictHostKeyChecking=yes${SSH_OPTIONS:+, $SSH_OPTIONS}]
    role: r
YAML
  done
}
cluster 1 > "$work/c1.yaml"
cluster "$HOSTS" > "$work/cN.yaml"
for k in ${COUNTS:-}; do cluster "$k" > "$work/c$k.yaml"; done
# experiment N [STEP]: N runs of one step (default `true`) on role r.
experiment() {
  cat <<YAML
name: fanout
runs: 1
order: sequential
variables:
  i: {range: [1, $1]}
steps:
  - name: t
    role: r
    run: "${2:-true}"
YAML
}
experiment 1 > "$work/e1.yaml"
experiment "$RUNS" > "$work/eN.yaml"
sleep_s=$(awk -v ms="$SLEEP_MS" 'BEGIN { printf "%.3f", ms / 1000 }')
experiment 1 "sleep $sleep_s" > "$work/s1.yaml"
experiment "$RUNS" "sleep $sleep_s" > "$work/sN.yaml"

now() { date +%s%N; }
# cpu: "controller_ns hosts_ns" used so far.
cpu() { if [ -n "$cg" ]; then echo "$(cat "$cg/cpuacct.usage") $(cat "$cgh/cpuacct.usage")"; else echo 0 0; fi; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
n=0
# mpf_time CLUSTER EXPERIMENT: prints "wall_ns controller_cpu_ns hosts_cpu_ns" of one whole
# `mpf run`.
mpf_time() {
  n=$((n + 1))
  local c h s e d g
  read -r c h < <(cpu); s=$(now)
  if ! "$MPF" run "$work/$2" -c "$work/$1" --quiet --no-plot --results "$work/r$n" 2>"$work/err"; then
    cat "$work/err" >&2
    return 1
  fi
  e=$(now); read -r d g < <(cpu)
  echo "$((e - s)) $((d - c)) $((g - h))"
}
# mpf_phases CLUSTER EXPERIMENT: as mpf_time, then the phases (see MODE=whole), all in ns:
# "wall controller_cpu hosts_cpu opening first_run later_run closing".
mpf_phases() {
  n=$((n + 1))
  local c h s e d g t line runs=0 t_start='' t_first='' t_last='' rc=''
  : > "$work/err"
  read -r c h < <(cpu); s=$(now)
  while IFS= read -r line; do
    t=$(( ${EPOCHREALTIME/./} * 1000 ))
    case $line in
      '{"event":"started"'*) t_start=$t ;;
      '{"event":"run"'*) runs=$((runs + 1)); [ -n "$t_first" ] || t_first=$t; t_last=$t ;;
      'mpf-exit '*) rc=${line#mpf-exit } ;;
      '{'*) ;;
      *) printf '%s\n' "$line" >> "$work/err" ;;
    esac
  done < <("$MPF" run "$work/$2" -c "$work/$1" --progress json --no-plot --results "$work/r$n" 2>&1 >/dev/null
           echo "mpf-exit $?")
  e=$(now); read -r d g < <(cpu)
  if [ "$rc" != 0 ] || [ -z "$t_start" ] || [ "$runs" -lt 2 ]; then
    cat "$work/err" >&2
    return 1
  fi
  echo "$((e - s)) $((d - c)) $((g - h)) $((t_start - s)) $((t_first - t_start))" \
    "$(((t_last - t_first) / (runs - 1))) $((e - t_last))"
}
# plain_time HOSTS: prints "wall_ns controller_cpu_ns hosts_cpu_ns" of RUNS rounds of `true`
# on HOSTS hosts at once.
plain_time() {
  local c h s e d g i
  for i in $(seq "$1"); do ssh "${opts[@]}" -M -N -f -S "$work/ctl$i" $user@$NET.$i; done
  read -r c h < <(cpu); s=$(now)
  for _ in $(seq "$RUNS"); do
    for i in $(seq "$1"); do ssh "${opts[@]}" -S "$work/ctl$i" $user@$NET.$i true & done
    wait
  done
  e=$(now); read -r d g < <(cpu)
  for i in $(seq "$1"); do ssh -S "$work/ctl$i" -O exit $user@$NET.$i 2>/dev/null; done
  echo "$((e - s)) $((d - c)) $((g - h))"
}

med() { printf '%s\n' $1 | median; }

if [ "$MODE" = hold ]; then
  # The bed stays up for experiments by hand until this script is stopped.
  echo "bed up: $work/c1.yaml, $work/cN.yaml, experiments $work/sN.yaml (RUNS runs of sleep)"
  sleep infinity & hold=$!
  trap 'kill $hold; cleanup' EXIT
  wait
fi

if [ "$MODE" = whole ]; then
  # The whole command, connecting and closing included, 1 host and HOSTS hosts alternating.
  declare -A ph
  for _ in $(seq "$REPS"); do
    for k in 1 N; do
      read -r w c h o f l z < <(mpf_phases "c$k.yaml" sN.yaml) || exit 1
      ph[w$k]+="$w "; ph[c$k]+="$c "; ph[h$k]+="$h "
      ph[o$k]+="$o "; ph[f$k]+="$f "; ph[l$k]+="$l "; ph[z$k]+="$z "
    done
  done
  args=()
  for v in w c h o f l z; do args+=(-v "${v}1=$(med "${ph[${v}1]}")" -v "${v}n=$(med "${ph[${v}N]}")"); done
  awk -v hosts="$HOSTS" -v runs="$RUNS" -v reps="$REPS" -v limit="$LIMIT" -v s="$sleep_s" \
    -v all1="${ph[w1]}" -v alln="${ph[wN]}" -v load="$(cut -d' ' -f1-3 /proc/loadavg)" \
    "${args[@]}" 'BEGIN {
    printf "whole `mpf run -c` of %d runs of `sleep %s`, median of %d (load average at the end: %s)\n", runs, s, reps, load
    printf "1 host:   %8.0f ms   (%s)\n", w1 / 1e6, all1
    printf "%d hosts: %8.0f ms   (%s)\n", hosts, wn / 1e6, alln
    printf "ratio:    %8.2fx\n", wn / w1
    printf "%-46s %9s %9s\n", "phase (ms, medians)", "1 host", hosts " hosts"
    printf "%-46s %9.0f %9.0f\n", "opening (connect, facts, roots)", o1 / 1e6, on / 1e6
    printf "%-46s %9.0f %9.0f\n", "first run", f1 / 1e6, fn / 1e6
    printf "%-46s %9.0f %9.0f\n", "each later run", l1 / 1e6, ln / 1e6
    printf "%-46s %9.0f %9.0f\n", "closing (set written, machines closed)", z1 / 1e6, zn / 1e6
    if (c1 > 0) {
      printf "%-46s %9.0f %9.0f\n", "CPU, controller (mpf, ssh clients, masters)", c1 / 1e6, cn / 1e6
      printf "%-46s %9.0f %9.0f\n", "CPU, hosts (sshds and what they start)", h1 / 1e6, hn / 1e6
      printf "controller CPU per machine: %.1f ms; hosts: %.1f ms\n", (cn - c1) / (hosts - 1) / 1e6, (hn - h1) / (hosts - 1) / 1e6
    }
    if (wn / w1 > limit) { printf "ratio %.2fx is above %sx\n", wn / w1, limit; exit 1 }
  }'
  exit
fi

# descendants PID: PID and every process below it.
descendants() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2; pids[NR] = $1 }
    END {
      keep[root] = 1; changed = 1
      while (changed) {
        changed = 0
        for (i in pids) { p = pids[i]; if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; changed = 1 } }
      }
      for (p in keep) print p
    }'
}
# sample PID: "processes fds rss_kb pss_kb" of mpf (PID) and its processes, now.
sample() {
  local procs=0 rss=0 pss=0 p r q fds
  fds=$(ls "/proc/$1/fd" 2>/dev/null | wc -l)
  for p in $(descendants "$1"); do
    r=$(awk '/^Rss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null) || continue
    q=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null) || continue
    [ -n "$r" ] || continue
    procs=$((procs + 1)); rss=$((rss + r)); pss=$((pss + q))
  done
  echo "$procs $fds $rss $pss"
}

if [ "$MODE" = cost ]; then
  printf "controller cost of \`mpf run -c\`, %d runs of \`sleep %s\` on a role of N machines (most seen, sampled every 20 ms)\n" "$RUNS" "$sleep_s"
  printf "%9s %10s %9s %12s %12s %10s\n" machines processes "mpf fds" "RSS MiB" "PSS MiB" "wall s"
  for k in $COUNTS; do
    s=$(now)
    "$MPF" run "$work/sN.yaml" -c "$work/c$k.yaml" --quiet --no-plot --results "$work/cost$k" 2>"$work/err" &
    pid=$!
    mp=0 mf=0 mr=0 ms=0
    while kill -0 "$pid" 2>/dev/null; do
      read -r a b c d < <(sample "$pid")
      [ "$a" -gt "$mp" ] && mp=$a; [ "$b" -gt "$mf" ] && mf=$b
      [ "$c" -gt "$mr" ] && mr=$c; [ "$d" -gt "$ms" ] && ms=$d
      sleep 0.02
    done
    if ! wait "$pid"; then cat "$work/err" >&2; exit 1; fi
    e=$(now)
    awk -v k="$k" -v p="$mp" -v f="$mf" -v r="$mr" -v q="$ms" -v w="$((e - s))" 'BEGIN {
      printf "%9d %10d %9d %12.1f %12.1f %10.2f\n", k, p, f, r / 1024, q / 1024, w / 1e9 }'
  done
  exit
fi

declare -A wall cpu_ hcpu
for _ in $(seq "$REPS"); do
  for h in 1 N; do
    read -r w1 c1 g1 < <(mpf_time "c$h.yaml" e1.yaml)
    read -r wn cn gn < <(mpf_time "c$h.yaml" eN.yaml)
    wall[mpf_whole_$h]+="$((wn / RUNS)) "
    wall[mpf_run_$h]+="$(((wn - w1) / (RUNS - 1))) "
    wall[mpf_start_$h]+="$((w1 - (wn - w1) / (RUNS - 1))) "
    cpu_[mpf_run_$h]+="$(((cn - c1) / (RUNS - 1))) "
    hcpu[mpf_run_$h]+="$(((gn - g1) / (RUNS - 1))) "
    read -r w1 c1 g1 < <(mpf_time "c$h.yaml" s1.yaml)
    read -r wn cn gn < <(mpf_time "c$h.yaml" sN.yaml)
    wall[mpf_sleep_$h]+="$(((wn - w1) / (RUNS - 1))) "
    hosts=1; [ $h = N ] && hosts=$HOSTS
    read -r wp cp gp < <(plain_time "$hosts")
    wall[plain_$h]+="$((wp / RUNS)) "
    cpu_[plain_$h]+="$((cp / RUNS)) "
    hcpu[plain_$h]+="$((gp / RUNS)) "
  done
done
awk -v h="$HOSTS" -v runs="$RUNS" -v reps="$REPS" -v limit="$LIMIT" -v sleep_ms="$SLEEP_MS" \
  -v m1="$(med "${wall[mpf_run_1]}")" -v mn="$(med "${wall[mpf_run_N]}")" \
  -v w1="$(med "${wall[mpf_whole_1]}")" -v wn="$(med "${wall[mpf_whole_N]}")" \
  -v z1="$(med "${wall[mpf_sleep_1]}")" -v zn="$(med "${wall[mpf_sleep_N]}")" \
  -v p1="$(med "${wall[plain_1]}")" -v pn="$(med "${wall[plain_N]}")" \
  -v s1="$(med "${wall[mpf_start_1]}")" -v sn="$(med "${wall[mpf_start_N]}")" \
  -v mc1="$(med "${cpu_[mpf_run_1]}")" -v mcn="$(med "${cpu_[mpf_run_N]}")" \
  -v pc1="$(med "${cpu_[plain_1]}")" -v pcn="$(med "${cpu_[plain_N]}")" \
  -v mh1="$(med "${hcpu[mpf_run_1]}")" -v mhn="$(med "${hcpu[mpf_run_N]}")" \
  -v ph1="$(med "${hcpu[plain_1]}")" -v phn="$(med "${hcpu[plain_N]}")" 'BEGIN {
  printf "fan-out of one step, %d runs, median of %d (ms per run)\n", runs, reps
  printf "                                       1 host   %2d hosts   ratio\n", h
  printf "mpf run -c, `true`, per run after start-up %6.2f  %8.2f  %5.2fx\n", m1 / 1e6, mn / 1e6, mn / m1
  printf "mpf run -c, `true`, whole command / runs %8.2f  %8.2f  %5.2fx\n", w1 / 1e6, wn / 1e6, wn / w1
  printf "mpf run -c, `sleep` of %d ms, per run %10.2f  %8.2f  %5.2fx\n", sleep_ms, z1 / 1e6, zn / 1e6, zn / z1
  printf "plain ssh -S ctl host true (& wait) %12.2f  %8.2f  %5.2fx\n", p1 / 1e6, pn / 1e6, pn / p1
  printf "mpf start-up, once per session %14.0f  %8.0f  %5.2fx (connect, guards, facts, end)\n", s1 / 1e6, sn / 1e6, sn / s1
  if (mc1 > 0) {
    printf "CPU ms per run (`true`), controller: mpf %7.2f  %8.2f  %5.2fx\n", mc1 / 1e6, mcn / 1e6, mcn / mc1
    printf "CPU ms per run (`true`), hosts, with mpf %6.2f  %8.2f  %5.2fx\n", mh1 / 1e6, mhn / 1e6, mhn / mh1
    printf "CPU ms per run, controller: plain ssh %9.2f  %8.2f  %5.2fx\n", pc1 / 1e6, pcn / 1e6, pcn / pc1
    printf "CPU ms per run, hosts, with plain ssh %9.2f  %8.2f  %5.2fx\n", ph1 / 1e6, phn / 1e6, phn / ph1
  }
  if (mn / m1 > limit) { printf "mpf per-run ratio %.2fx is above %sx\n", mn / m1, limit; exit 1 }
}'
