# alive PGID: true while the process group has a member that is not a zombie (ps where it
# exists: PID 1 of a container may reap orphans late; else kill -0).
if command -v ps >/dev/null 2>&1; then
  alive() {
    kill -0 -"$1" 2>/dev/null &&
      ps -eo pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }'
  }
else
  alive() { kill -0 -"$1" 2>/dev/null; }
fi
