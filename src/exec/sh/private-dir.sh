# private_dir DIR: creates DIR readable by its owner only (umask 077 from then on), or accepts
# it when it already is a directory of ours with mode 0700 (left by an mpf that died); anything
# else, such as a directory someone else made beforehand under /tmp, is refused: false, with
# the reason in `why`.
private_dir() {
  umask 077
  mkdir "$1" 2>/dev/null && return 0
  # shellcheck disable=SC2046 # the fields of ls -ld, split on purpose
  set -- "$1" $(ls -ldn "$1" 2>/dev/null)
  case "$2:$4" in
    "drwx------:$(id -u)" | "drwx------.:$(id -u)") return 0 ;;
  esac
  # shellcheck disable=SC2034 # read by the caller
  why="mpf: $1 already exists and is not a private directory of user $(id -un) (owned by it, mode 0700): refusing to use it"
  return 1
}
