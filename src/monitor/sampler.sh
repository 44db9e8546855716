# mpf's sampler: prints the kernel's counters every MPF_MON_INTERVAL seconds until stopped.
# MPF_MON_METRICS lists the groups (cpu memory net disk cpufreq interrupts). One awk per tick
# reads /proc (an awk reading ticks from a pipe would not do: mawk waits for a full buffer);
# mpf turns the counters into rates. Each tick is
#   t UPTIME | c CPU BUSY TOTAL | m KIB_IN_USE | n IFACE RXB RXP RXDROP TXB TXP TXDROP
#   | d DEV SECTORS_READ SECTORS_WRITTEN | f CPU KHZ | i IRQ COUNT | e
# A TERM (mpf stopping the run) ends the loop with one last tick, so that the samples reach
# the end of the run. A tick cut short by the TERM has no `e` and is dropped by mpf.
: "${MPF_MON_INTERVAL:?}" "${MPF_MON_METRICS:?}"
prog='
function slurp_stat(   line, f, total, idle, i) {
  while ((getline line < "/proc/stat") > 0) {
    if (line ~ /^cpu[0-9]/) ncpu++
    if (want["cpu"] && line ~ /^cpu/) {
      split(line, f, " ")
      total = 0
      for (i = 2; i <= 9; i++) total += f[i]
      idle = f[5] + f[6]
      printf "c %s %.0f %.0f\n", f[1], total - idle, total
    } else if (want["interrupts"] && line ~ /^intr /) {
      split(line, f, " ")
      print "i", "all", f[2]
    }
  }
  close("/proc/stat")
}
function slurp_mem(   line, f, total, avail) {
  total = -1; avail = -1
  while ((getline line < "/proc/meminfo") > 0) {
    split(line, f, " ")
    if (f[1] == "MemTotal:") total = f[2]
    else if (f[1] == "MemAvailable:") avail = f[2]
    if (total >= 0 && avail >= 0) break
  }
  close("/proc/meminfo")
  if (total >= 0 && avail >= 0) printf "m %.0f\n", total - avail
}
function slurp_net(   line, f, n) {
  n = 0
  while ((getline line < "/proc/net/dev") > 0) {
    if (++n <= 2) continue
    sub(/:/, " ", line)
    split(line, f, " ")
    print "n", f[1], f[2], f[3], f[5], f[10], f[11], f[13]
  }
  close("/proc/net/dev")
}
function whole_disk(dev,   x, p) {
  if (dev in disk) return disk[dev]
  p = "/sys/class/block/" dev "/partition"
  disk[dev] = dev !~ /^(loop|ram|zram|sr)/ && (getline x < p) <= 0
  close(p)
  return disk[dev]
}
function slurp_disk(   line, f) {
  while ((getline line < "/proc/diskstats") > 0) {
    split(line, f, " ")
    if (whole_disk(f[3])) print "d", f[3], f[6], f[10]
  }
  close("/proc/diskstats")
}
function slurp_freq(   i, p, khz) {
  for (i = 0; i < ncpu; i++) {
    p = "/sys/devices/system/cpu/cpu" i "/cpufreq/scaling_cur_freq"
    if ((getline khz < p) > 0) print "f", "cpu" i, khz
    close(p)
  }
}
function slurp_irq(   line, f, i, sum, n) {
  n = 0
  while ((getline line < "/proc/interrupts") > 0) {
    if (++n == 1) continue
    split(line, f, " ")
    sum = 0
    for (i = 2; f[i] ~ /^[0-9]+$/; i++) sum += f[i]
    sub(/:$/, "", f[1])
    printf "i %s %.0f\n", f[1], sum
  }
  close("/proc/interrupts")
}
BEGIN {
  split(metrics, m, " ")
  for (k in m) want[m[k]] = 1
  getline up < "/proc/uptime"
  split(up, u, " ")
  print "t", u[1]
  ncpu = 0
  slurp_stat()
  if (want["memory"]) slurp_mem()
  if (want["net"]) slurp_net()
  if (want["disk"]) slurp_disk()
  if (want["cpufreq"]) slurp_freq()
  if (want["interrupts"]) slurp_irq()
  print "e"
}'
tick() { awk -v metrics="$MPF_MON_METRICS" "$prog" </dev/null; }
# The sleep runs in the background and is waited for: a TERM that came during a tick (and
# waits for it to end) then ends the wait at once instead of after a whole interval.
# A second TERM (sent to the process and to its group, as timeout(1) does) is ignored: one
# last reading, not two.
s=
trap 'trap "" TERM; [ -z "$s" ] || kill "$s" 2>/dev/null; tick; exit 0' TERM
while :; do
  tick
  sleep "$MPF_MON_INTERVAL" & s=$!
  wait "$s"; s=
done
