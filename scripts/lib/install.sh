# Shared by the project's scripts: install what is missing, each step checking first.
#   source scripts/lib/install.sh

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# apt_install PACKAGE... : install Debian packages (as root, or with sudo), updating the package
# lists once per run. Returns non-zero if apt fails; callers decide whether that is fatal.
apt_updated=false
apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  if ! $apt_updated; then
    $sudo apt-get update -qq || return 1
    apt_updated=true
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}
