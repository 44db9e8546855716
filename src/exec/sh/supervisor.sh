# The step session's shell. $1 the step's script, $2 its registry file, $3 polls of 50 ms in
# the grace period, then the wrapper prefix (`ip netns exec NS ...`), one argument per word.
# The caller puts before this text the step's `export` line, `mark=` (the marker that
# starts mpf's own lines on stderr) and the `alive` function.
: "${mark:?}"
exec 3<&0 </dev/null
mkfifo "$2.o" "$2.e" || { echo "mpf: cannot create the output pipes" >&2; exit 125; }
cat "$2.o" & co=$!
cat "$2.e" >&2 & ce=$!
# shellcheck disable=SC2016 # expanded by the step's own shell
setsid sh -c 'echo $$ > "$2" || { echo "mpf: cannot register the process group" >&2; exit 125; }; s=$1; shift 3; exec "$@" sh -c "$s"' mpf-step "$@" >"$2.o" 2>"$2.e" &
pg=$!
# stdin's EOF (mpf stopping the step, or gone) stops the group: TERM, the grace, KILL.
{ cat <&3 >/dev/null
  while [ ! -f "$2" ] && kill -0 "$pg" 2>/dev/null; do sleep 0.01; done
  [ -f "$2" ] && [ ! -f "$2.keep" ] || exit 0
  kill -TERM -"$pg"; kill -CONT -"$pg"; i=0
  while alive "$pg" && [ "$i" -lt "$3" ]; do sleep 0.05; i=$((i+1)); done
  kill -KILL -"$pg"; rm -f "$2"
} >/dev/null 2>&1 &
exec 3<&-
wait "$pg"; rc=$?
if alive "$pg"; then
  # Processes left in the group hold the pipes: detached sinks take over so that this
  # session can end, and the left processes can go on writing until the run ends.
  sleep 0.1
  cat "$2.o" >/dev/null 2>&1 & cat "$2.e" >/dev/null 2>&1 &
  kill "$co" "$ce" 2>/dev/null
  : > "$2.keep"; left=1
else
  wait "$co" "$ce"; rm -f "$2"; left=
fi
rm -f "$2.o" "$2.e"
if [ -n "$MPF_RUN_DIR" ] && [ -n "$(ls -A "$MPF_RUN_DIR" 2>/dev/null)" ]; then echo "$mark rundir" >&2; fi
[ -n "$left" ] && echo "$mark leftovers" >&2
exit $rc
