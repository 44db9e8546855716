# Creates $1 readable by its owner only, or accepts it when it already is a directory of ours
# with mode 0700 (left by an mpf that died); anything else, such as a directory someone else
# made beforehand under /tmp, is refused with a message on stderr.
umask 077
d=$1
if ! mkdir "$d" 2>/dev/null; then
  # shellcheck disable=SC2046 # the fields of ls -ld, split on purpose
  set -- $(ls -ldn "$d" 2>/dev/null)
  case "$1:$3" in
    "drwx------:$(id -u)"|"drwx------.:$(id -u)") ;;
    *) echo "mpf: $d already exists and is not a private directory of user $(id -un) (owned by it, mode 0700): refusing to use it" >&2; exit 1;;
  esac
fi
