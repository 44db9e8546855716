# The machine's guard: $1 the registry directory. It waits for EOF on stdin (mpf gone, killed
# or cut off), then kills every group still registered and removes the registry.
trap '' INT TERM HUP
cat > /dev/null
for f in "$1"/*; do
  [ -f "$f" ] && p=$(cat "$f") && [ -n "$p" ] && kill -KILL "-$p" 2>/dev/null
done
rm -rf "$1"
