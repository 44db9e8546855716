# A step runner: one long-lived session of a connection that runs steps one after another, so
# that a step costs a fork and not an ssh session. The caller puts before this text
# `set -- MARK` and the `alive` function. It reads a job a line from stdin (skipping empty
# lines): a command mpf wrote
# that sets `f` to the step's file in the registry and runs the step in a session of its own,
# stdin from /dev/null (`f=FILE; setsid ... </dev/null`), every word quoted by mpf and the
# step's newlines written "$nl". Not in the background: a shell without job control would
# start it with SIGINT and SIGQUIT ignored, which its shell could not undo. The step registers
# its pgid in `f` itself and writes straight into this session's stdout and stderr. Once it
# has exited with nothing left in its group, the runner
# empties its registry file (nothing for the helper to stop or sweep; `:>` starts no process)
# and prints `MARK CODE` on both streams, where the step's output ends (whatever its last byte
# was). When processes it left in its group are still alive, it prints `MARK CODE held` on
# stderr only and exits instead: the session stays with them until they end, and their output
# goes on into the step's log, as with a session of the step's own.
m=$1
# shellcheck disable=SC2034 # used by the jobs mpf writes
nl='
'
while IFS= read -r job; do
  # An empty line is mpf's nudge (`exec::slot`): bytes back to srun, nothing to run.
  [ -n "$job" ] || continue
  f=
  eval "$job"
  rc=$?
  p=
  [ -n "$f" ] && [ -s "$f" ] && read -r p < "$f"
  case $p in '' | *[!0-9]*) p= ;; esac
  if [ -n "$p" ] && alive "$p"; then
    printf '%s %s held\n' "$m" "$rc" >&2
    exit 0
  fi
  [ -z "$f" ] || : > "$f"
  printf '%s %s\n' "$m" "$rc"
  printf '%s %s\n' "$m" "$rc" >&2
done
