# Host facts: one `key=value` line each. Plain POSIX sh (no bash), tolerant of every missing
# file and tool: what cannot be read is left out, and the controller records it as `unknown`.
# MPF_FACT_IFACES lists the interfaces the cluster file names for this machine.
# The first line of a file, with the `read` builtin (no process per file).
r() { [ -r "$1" ] && { IFS= read -r _l < "$1"; } 2>/dev/null && printf '%s\n' "$_l"; }
echo "hostname=$(r /proc/sys/kernel/hostname || hostname)"
echo "kernel=$(uname -sr 2>/dev/null)"
echo "cores=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null)"
sed -n 's/^MemTotal:[[:space:]]*\([0-9]*\) kB$/memory_kb=\1/p' /proc/meminfo 2>/dev/null
sed -n 's/^SwapTotal:[[:space:]]*\([0-9]*\) kB$/swap_kb=\1/p' /proc/meminfo 2>/dev/null
sed -n 's/^model name[[:space:]]*:[[:space:]]*/cpu_model=/p' /proc/cpuinfo 2>/dev/null | head -n 1
# shellcheck source=/dev/null
( . /etc/os-release 2>/dev/null && echo "os=$PRETTY_NAME" )
c=/sys/devices/system/cpu
# Every CPU's governor: `performance`, or `mixed` when they differ.
g=$(cat $c/cpu[0-9]*/cpufreq/scaling_governor 2>/dev/null | sort -u)
[ -n "$g" ] && { [ "$(echo "$g" | wc -l)" -eq 1 ] && echo "governor=$g" || echo "governor=mixed"; }
v=$(r $c/cpu0/cpufreq/scaling_min_freq) && echo "freq_min_khz=$v"
v=$(r $c/cpu0/cpufreq/scaling_max_freq) && echo "freq_max_khz=$v"
if v=$(r $c/intel_pstate/no_turbo); then
  [ "$v" = 0 ] && echo "turbo=true" || echo "turbo=false"
elif v=$(r $c/cpufreq/boost); then
  [ "$v" = 1 ] && echo "turbo=true" || echo "turbo=false"
fi
if v=$(r $c/smt/active); then
  [ "$v" = 1 ] && echo "smt=true" || echo "smt=false"
fi
v=$(r /sys/kernel/mm/transparent_hugepage/enabled) &&
  echo "thp=$(echo "$v" | sed -n 's/.*\[\([a-z]*\)\].*/\1/p')"
v=$(r /proc/cmdline) && echo "cmdline=$v"
for f in "$c"/vulnerabilities/*; do
  [ -r "$f" ] && IFS= read -r v < "$f" 2>/dev/null && echo "vuln.${f##*/}=$v"
done
irq=false
# `read` is a builtin: no process per pid.
for p in /proc/[0-9]*/comm; do
  read -r n 2>/dev/null < "$p" && [ "$n" = irqbalance ] && { irq=true; break; }
done
echo "irqbalance=$irq"
for i in $MPF_FACT_IFACES; do
  n=/sys/class/net/$i
  [ -d "$n" ] || continue
  d=$(readlink "$n/device/driver" 2>/dev/null) && echo "iface.$i.driver=${d##*/}"
  v=$(r "$n/speed") && echo "iface.$i.speed_mbps=$v"
  v=$(r "$n/mtu") && echo "iface.$i.mtu=$v"
  if command -v ethtool >/dev/null 2>&1; then
    o=$(ethtool -k "$i" 2>/dev/null | awk -F': ' '
      /^(tcp-segmentation-offload|generic-segmentation-offload|generic-receive-offload|large-receive-offload|rx-checksumming|tx-checksumming|scatter-gather):/ {
        split($2, s, " "); printf "%s%s=%s", sep, $1, s[1]; sep = ","
      }')
    [ -n "$o" ] && echo "iface.$i.offloads=$o"
  fi
done
exit 0
