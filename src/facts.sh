# Host facts: one `key=value` line each. Plain POSIX sh (no bash), tolerant of every missing
# file and tool: what cannot be read is left out, and the controller records it as `unknown`.
# MPF_FACT_IFACES lists the interfaces the cluster file names for this machine.
# It runs on every machine of a session at once, and before the first run, so it starts one
# process of its own in the common case (a fork or exec costs a millisecond or more on a loaded
# or virtual machine; 64 machines sharing a host paid about 19 ms each for the thirty-odd
# processes this script used to start): one awk for the longer files (dash's `read` takes a
# system call per byte: about 6,000 of them, 5.9 ms, against 1,000 and 4.3 ms with the awk),
# builtins for the short ones and for everything when there is no awk; the tools are fallbacks.
# r FILE: sets `v` to the first line of FILE with the `read` builtin; false when unreadable.
r() { v=; [ -r "$1" ] && { IFS= read -r v < "$1"; } 2>/dev/null; }
# The longer files (about 3,000 bytes here, a system call per byte with dash's `read`) in one
# awk when there is one: a read per file. Its last line is `irqbalance=`: when it is missing (no
# awk, or an awk that stopped at a read error, as mawk does), the builtins below read them.
# MPF_FACTS_BUILTINS=1 takes the builtins (the tests compare the two).
fast=
if [ -z "${MPF_FACTS_BUILTINS:-}" ] && command -v awk >/dev/null 2>&1; then
  fast=$(awk 'BEGIN {
    f = "/proc/self/status"
    while ((getline l < f) > 0) {
      if (l !~ /^Cpus_allowed_list:/) continue
      sub(/^Cpus_allowed_list:/, "", l); n = 0; k = split(l, part, ",")
      for (i = 1; i <= k; i++) {
        p = part[i]; sub(/^[ \t]+/, "", p); sub(/[ \t]+$/, "", p)
        if (p ~ /^[0-9]+-[0-9]+$/) { split(p, ab, "-"); n += ab[2] - ab[1] + 1 }
        else if (p ~ /^[0-9]+$/) n++
        else { n = 0; break }
      }
      if (n > 0) print "cores=" n
      break
    }
    close(f)
    f = "/proc/meminfo"
    while ((getline l < f) > 0) {
      k = split(l, w, " ")
      if (w[1] == "MemTotal:" && w[3] == "kB" && k == 3) print "memory_kb=" w[2]
      if (w[1] == "SwapTotal:" && w[3] == "kB" && k == 3) { print "swap_kb=" w[2]; break }
    }
    close(f)
    f = "/proc/cpuinfo"
    while ((getline l < f) > 0)
      if (l ~ /^model name/) { sub(/^[^:]*:[ \t]*/, "", l); print "cpu_model=" l; break }
    close(f)
    f = "/proc/cmdline"
    if ((getline l < f) > 0) print "cmdline=" l
    close(f)
    irq = "false"
    for (i = 1; i < ARGC; i++) {
      f = ARGV[i]
      if (f ~ /\/vulnerabilities\/[^\/]+$/) {
        if ((getline l < f) > 0) { name = f; sub(/.*\//, "", name); print "vuln." name "=" l }
      } else if (irq == "false" && f ~ /^\/proc\/[0-9]+\/comm$/) {
        if ((getline l < f) > 0 && l == "irqbalance") irq = "true"
      }
      close(f)
    }
    print "irqbalance=" irq
  }' /sys/devices/system/cpu/vulnerabilities/* /proc/[0-9]*/comm 2>/dev/null)
fi
case $fast in
  *irqbalance=*) printf '%s\n' "$fast" ;;
  *) fast= ;;
esac
if r /proc/sys/kernel/hostname; then echo "hostname=$v"; else echo "hostname=$(hostname)"; fi
if r /proc/sys/kernel/ostype && k=$v && r /proc/sys/kernel/osrelease; then
  echo "kernel=$k $v"
else
  echo "kernel=$(uname -sr 2>/dev/null)"
fi
# The CPUs this process may run on (what nproc counts): the ranges of Cpus_allowed_list.
n=
[ -n "$fast" ] || while IFS=: read -r k v; do
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
case $fast in
  *cores=*) ;;
  *)
    [ -n "$n" ] && [ "$n" -gt 0 ] || n=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null)
    echo "cores=$n"
    ;;
esac
# Up to SwapTotal (line 15 or so) and no further: `read` takes a system call per byte, and
# the rest of the file is two thirds of it.
[ -n "$fast" ] || while read -r k v u; do
  case $k:$u in
    MemTotal::kB) echo "memory_kb=$v" ;;
    SwapTotal::kB) echo "swap_kb=$v"; break ;;
  esac
done 2>/dev/null < /proc/meminfo
[ -n "$fast" ] || while IFS=: read -r k v; do
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
if [ -z "$fast" ]; then
  r /proc/cmdline && echo "cmdline=$v"
  for f in "$c"/vulnerabilities/*; do
    r "$f" && echo "vuln.${f##*/}=$v"
  done
  irq=false
  for p in /proc/[0-9]*/comm; do
    read -r n 2>/dev/null < "$p" && [ "$n" = irqbalance ] && { irq=true; break; }
  done
  echo "irqbalance=$irq"
fi
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
