# Sourced by the install-*.sh scripts: apt_install NAME PACKAGE... installs Debian packages
# non-interactively, or says that it needs root. Callers check first whether anything is missing.
apt_install() {
    local name=$1
    shift
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-$name: $* missing and installing needs root" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
