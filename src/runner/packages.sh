# Installs the packages a setup entry's `packages:` names that are missing, with apt-get or dnf,
# detected from /etc/os-release (falling back to whichever tool exists), with `sudo -n` when not
# root. Plain POSIX sh. mpf passes the names in the environment, never in this text:
# MPF_APT_PACKAGES and MPF_DNF_PACKAGES, space-separated names mpf checked (letters, digits and
# `.+-_:` only, so splitting them on spaces is safe).
apt_pkgs=${MPF_APT_PACKAGES-}
dnf_pkgs=${MPF_DNF_PACKAGES-}
if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO='sudo -n'; fi
ID=; ID_LIKE=
# shellcheck source=/dev/null
[ -r /etc/os-release ] && . /etc/os-release
fam=
case " $ID $ID_LIKE " in
  *" debian "*|*" ubuntu "*) fam=apt ;;
  *" fedora "*|*" rhel "*|*" centos "*) fam=dnf ;;
esac
if [ -z "$fam" ]; then
  if command -v apt-get >/dev/null 2>&1; then fam=apt; elif command -v dnf >/dev/null 2>&1; then fam=dnf; fi
fi
missing=
# shellcheck disable=SC2086 # the lists are names mpf checked, split on spaces on purpose
case "$fam" in
  apt)
    for p in $apt_pkgs; do
      dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
    done
    if [ -z "$missing" ]; then echo "packages: nothing to install (apt: ${apt_pkgs:-none})"; exit 0; fi
    echo "packages: installing$missing with apt-get"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing ;;
  dnf)
    for p in $dnf_pkgs; do rpm -q "$p" >/dev/null 2>&1 || missing="$missing $p"; done
    if [ -z "$missing" ]; then echo "packages: nothing to install (dnf: ${dnf_pkgs:-none})"; exit 0; fi
    echo "packages: installing$missing with dnf"
    $SUDO dnf install -y -q $missing ;;
  *)
    echo "packages: neither apt-get nor dnf on this machine (${ID:-unknown})" >&2; exit 1 ;;
esac
