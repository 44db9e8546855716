# Stops a registered group: $1 its registry file, $2 polls of 50 ms in the grace period.
# The caller puts the `alive` function before this text.
f=$1
[ -f "$f" ] || exit 0
p=$(cat "$f")
if [ -n "$p" ] && kill -0 "-$p" 2>/dev/null; then
  kill -TERM "-$p" 2>/dev/null; kill -CONT "-$p" 2>/dev/null; i=0
  while alive "$p" && [ $i -lt "$2" ]; do sleep 0.05; i=$((i+1)); done
  kill -KILL "-$p" 2>/dev/null
fi
rm -f "$f" "$f.keep"
