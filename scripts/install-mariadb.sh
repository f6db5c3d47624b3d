#!/usr/bin/env bash
# Install Debian's MariaDB server binaries when missing (the service tests start their own server).
# Idempotent; needs root on a fresh machine. Nothing is started or enabled here.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
if command -v mariadbd >/dev/null && command -v mariadb-install-db >/dev/null; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-mariadb: mariadb-server is missing and installing it needs root" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends mariadb-server mariadb-client >/dev/null
command -v mariadbd >/dev/null
