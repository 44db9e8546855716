# Host facts: one `key=value` line each. Plain POSIX sh (no bash), tolerant of every missing
# file and tool: what cannot be read is left out, and the controller records it as `unknown`.
# MPF_FACT_IFACES lists the interfaces the cluster file names for this machine.
# It runs on every machine of a session at once, so it reads files with builtins and starts
# no process of its own in the common case (a fork or exec costs a millisecond or more on a
# loaded or virtual machine; 64 machines sharing a host paid about 19 ms each for the
# thirty-odd processes this script used to start): the tools are fallbacks.
# r FILE: sets `v` to the first line of FILE with the `read` builtin; false when unreadable.
r() { v=; [ -r "$1" ] && { IFS= read -r v < "$1"; } 2>/dev/null; }
if r /proc/sys/kernel/hostname; then echo "hostname=$v"; else echo "hostname=$(hostname)"; fi
if r /proc/sys/kernel/ostype && k=$v && r /proc/sys/kernel/osrelease; then
  echo "kernel=$k $v"
else
  echo "kernel=$(uname -sr 2>/dev/null)"
fi
# The CPUs this process may run on (what nproc counts): the ranges of Cpus_allowed_list.
n=
while IFS=: read -r k v; do
  [ "$k" = Cpus_allowed_list ] || continue
  n=0
  IFS=,
  for part in $v; do
    part=${part#"${part%%[!	 ]*}"}
    case $part in
      *-*) a=${part%-*} b=${part#*-} ;;
      *) a=$part b=$part ;;
    esac
    case $a$b in '' | *[!0-9]*) n=; break ;; esac
    n=$((n + b - a + 1))
  done
  unset IFS
  break
done 2>/dev/null < /proc/self/status
[ -n "$n" ] && [ "$n" -gt 0 ] || n=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null)
echo "cores=$n"
# Up to SwapTotal (line 15 or so) and no further: `read` takes a system call per byte, and
# the rest of the file is two thirds of it.
while read -r k v u; do
  case $k:$u in
    MemTotal::kB) echo "memory_kb=$v" ;;
    SwapTotal::kB) echo "swap_kb=$v"; break ;;
  esac
done 2>/dev/null < /proc/meminfo
while IFS=: read -r k v; do
  case $k in
    "model name"*)
      echo "cpu_model=${v#"${v%%[!	 ]*}"}"
      break
      ;;
  esac
done 2>/dev/null < /proc/cpuinfo
# shellcheck source=/dev/null
( . /etc/os-release 2>/dev/null && echo "os=$PRETTY_NAME" )
c=/sys/devices/system/cpu
# Every CPU's governor: `performance`, or `mixed` when they differ.
g=
for f in "$c"/cpu[0-9]*/cpufreq/scaling_governor; do
  r "$f" || continue
  if [ -z "$g" ]; then g=$v; elif [ "$g" != "$v" ]; then g=mixed; break; fi
done
[ -n "$g" ] && echo "governor=$g"
r $c/cpu0/cpufreq/scaling_min_freq && echo "freq_min_khz=$v"
r $c/cpu0/cpufreq/scaling_max_freq && echo "freq_max_khz=$v"
if r $c/intel_pstate/no_turbo; then
  [ "$v" = 0 ] && echo "turbo=true" || echo "turbo=false"
elif r $c/cpufreq/boost; then
  [ "$v" = 1 ] && echo "turbo=true" || echo "turbo=false"
fi
if r $c/smt/active; then
  [ "$v" = 1 ] && echo "smt=true" || echo "smt=false"
fi
# The bracketed word of `always [madvise] never`.
if r /sys/kernel/mm/transparent_hugepage/enabled; then
  case $v in
    *\[*\]*) v=${v#*\[}; v=${v%%\]*} ;;
    *) v= ;;
  esac
  echo "thp=$v"
fi
r /proc/cmdline && echo "cmdline=$v"
for f in "$c"/vulnerabilities/*; do
  r "$f" && echo "vuln.${f##*/}=$v"
done
irq=false
for p in /proc/[0-9]*/comm; do
  read -r n 2>/dev/null < "$p" && [ "$n" = irqbalance ] && { irq=true; break; }
done
echo "irqbalance=$irq"
for i in $MPF_FACT_IFACES; do
  n=/sys/class/net/$i
  [ -d "$n" ] || continue
  d=$(readlink "$n/device/driver" 2>/dev/null) && echo "iface.$i.driver=${d##*/}"
  r "$n/speed" && echo "iface.$i.speed_mbps=$v"
  r "$n/mtu" && echo "iface.$i.mtu=$v"
  if command -v ethtool >/dev/null 2>&1; then
    o=$(ethtool -k "$i" 2>/dev/null | awk -F': ' '
      /^(tcp-segmentation-offload|generic-segmentation-offload|generic-receive-offload|large-receive-offload|rx-checksumming|tx-checksumming|scatter-gather):/ {
        split($2, s, " "); printf "%s%s=%s", sep, $1, s[1]; sep = ","
      }')
    [ -n "$o" ] && echo "iface.$i.offloads=$o"
  fi
done
exit 0
