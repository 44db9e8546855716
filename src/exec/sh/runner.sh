# A step runner: one long-lived session of a connection that runs steps one after another, so
# that a step costs a fork and not an ssh session. The session is `/bin/sh -s mpf-runner MARK`
# (`exec::slot::runner_command`): a shell that reads its commands from stdin, a block at a
# time (the `read` builtin would make a system call per byte of every job). mpf sends it the
# `alive` function and this text, then jobs, one a line (an empty line is a no-op):
# `f=FILE; setsid ... </dev/null; mpf_end $?`, which sets `f` to the step's file in the
# registry, runs the step in a session of its own with stdin from /dev/null (every word
# quoted by mpf, the step's newlines written "$nl"), then ends it here. Not in the
# background: a shell without job control would start it with SIGINT and SIGQUIT ignored,
# which its shell could not undo. The step registers its pgid in `f` itself and writes
# straight into this session's stdout and stderr. Once it has exited with nothing left in its
# group, `mpf_end` empties its registry file (nothing for the helper to stop or sweep; `:>`
# starts no process) and prints `MARK CODE` on both streams, where the step's output ends
# (whatever its last byte was). When processes it left in its group are still alive, it
# prints `MARK CODE held` on stderr only and exits instead: the session stays with them until
# they end, and their output goes on into the step's log, as with a session of the step's own.
# At EOF (mpf done, killed or cut off) the shell reaches the end of its input and exits.
m=$2
# shellcheck disable=SC2034 # used by the jobs mpf writes
nl='
'
# mpf_end CODE: the end of the job whose registry file is $f and whose status is CODE.
mpf_end() {
  p=
  [ -n "$f" ] && [ -s "$f" ] && read -r p < "$f"
  case $p in '' | *[!0-9]*) p= ;; esac
  if [ -n "$p" ] && alive "$p"; then
    printf '%s %s held\n' "$m" "$1" >&2
    exit 0
  fi
  [ -z "$f" ] || : > "$f"
  printf '%s %s\n' "$m" "$1"
  printf '%s %s\n' "$m" "$1" >&2
}
