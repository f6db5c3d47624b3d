#!/usr/bin/env bash
# Install Debian's MariaDB server binaries when missing (the service tests start their own server).
# Idempotent; needs root on a fresh machine. Nothing is started or enabled here.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
source "$(dirname "$0")/apt-install.sh"
if ! command -v mariadbd >/dev/null || ! command -v mariadb-install-db >/dev/null; then
    apt_install mariadb mariadb-server mariadb-client
fi
command -v mariadbd >/dev/null
