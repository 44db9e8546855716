# The machine's helper: one long-lived session per connection. The caller puts before this
# text `set -- REGISTRY`, the `private_dir` function (`sh/private-dir.sh`) and the `alive`
# function. It makes REGISTRY private (or exits), marks it open, says `ready` and whether the
# login shell is /bin/sh and whether it has setsid(1), then answers mpf's commands on stdin,
# one a line:
#   k POLLS TOKEN...  stop these steps' groups: TERM and CONT, polls of 50 ms while one is
#                     alive (at most POLLS), KILL; answers `k`.
#   d DIR...          answers `d` and those DIRs that hold anything (run directories to collect).
#   m DIR...          creates these directories (no answer: a step makes its own if it is first).
#   M ROOT ROLE I N   creates the run directories ROOT/runs/NNNN/ROLE of runs I to I+N-1 (NNNN:
#                     the run's index, at least 4 digits), one mkdir for N runs to come.
#   r DIR...          removes these directories at EOF (the result set's roots, when mpf is
#                     done), with the registry: one `rm` for both.
#   p DIR             makes DIR private (`private_dir`: a result set's root); answers `p`, or
#                     `p WHY` when DIR is someone else's.
# At EOF (mpf done, killed or cut off) it closes the registry, kills every group still
# registered and removes the registry.
#
# A step registers by appending its pgid to REGISTRY/TOKEN, and runs only when its line is the
# first and the registry is open. `k` appends `x` before it reads the first line, so a step
# stopped before it registered never runs; EOF closes the registry before the last sweep, so a
# step that registers after it never runs either.
d=$1 gone='' why=''
private_dir "$d" || { echo "$why" >&2; exit 1; }
trap '' INT TERM HUP
: > "$d/open" || exit 1
# `ready`, then `sh` when the login shell is /bin/sh, `setsid` when steps can run in a runner
# session (`sh/runner.sh`), which starts them with setsid(1).
r=ready
[ "$SHELL" = /bin/sh ] && r="$r sh"
command -v setsid >/dev/null 2>&1 && r="$r setsid"
echo "$r"
# p: the pgid registered under token $1, or empty (never registered, stopped before it ran).
pgid_of() {
  p=
  [ -s "$d/$1" ] && read -r p < "$d/$1"
  case $p in '' | *[!0-9]*) p= ;; esac
}
stop() {
  polls=$1; shift
  live=
  for t; do
    echo x >> "$d/$t"
    pgid_of "$t"
    [ -n "$p" ] || continue
    if kill -0 -"$p" 2>/dev/null; then
      kill -TERM -"$p" 2>/dev/null; kill -CONT -"$p" 2>/dev/null; live="$live $p"
    fi
    # Registered and now stopped: nothing for the last sweep to kill.
    : > "$d/$t"
  done
  i=0
  while [ -n "$live" ] && [ "$i" -lt "$polls" ]; do
    left=
    for p in $live; do alive "$p" && left="$left $p"; done
    live=$left
    [ -n "$live" ] && sleep 0.05
    i=$((i + 1))
  done
  for p in $live; do kill -KILL -"$p" 2>/dev/null; done
}
run_dirs() {
  root=$1 role=$2 i=$3 end=$(($3 + $4)) dirs=
  while [ "$i" -lt "$end" ]; do
    n=$i
    while [ ${#n} -lt 4 ]; do n=0$n; done
    dirs="$dirs $root/runs/$n/$role"
    i=$((i + 1))
  done
  # shellcheck disable=SC2086 # words mpf wrote, without spaces
  mkdir -p $dirs 2>/dev/null
}
dirty() {
  out=d
  for dir; do
    for e in "$dir"/* "$dir"/.[!.]* "$dir"/..?*; do
      if [ -e "$e" ] || [ -L "$e" ]; then out="$out $dir"; break; fi
    done
  done
  echo "$out"
}
while read -r cmd args; do
  # shellcheck disable=SC2086 # the arguments are words mpf wrote (numbers, quoted-free paths)
  case $cmd in
    k) stop $args; echo k ;;
    d) dirty $args ;;
    m) mkdir -p $args 2>/dev/null ;;
    M) run_dirs $args ;;
    r) gone="$gone $args" ;;
    p) if private_dir $args; then echo p; else echo "p $why"; fi ;;
  esac
done
rm -f "$d/open"
for f in "$d"/*; do
  [ -s "$f" ] || continue
  p=; read -r p < "$f"
  case $p in '' | *[!0-9]*) ;; *) kill -KILL -"$p" 2>/dev/null ;; esac
done
# shellcheck disable=SC2086 # the roots mpf named, plain words
rm -rf "$d" $gone
