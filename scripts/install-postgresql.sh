#!/usr/bin/env bash
# Install Debian's PostgreSQL server binaries when missing (`python -m pipeline airflow` and the
# Airflow tests start their own cluster). Idempotent; needs root on a fresh machine. Nothing is
# started or enabled here.
set -euo pipefail
BIN=/usr/lib/postgresql/15/bin
if [ -x "$BIN/initdb" ] && [ -x "$BIN/pg_ctl" ] && [ -x "$BIN/postgres" ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-postgresql: the postgresql package is missing and installing it needs root" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null
test -x "$BIN/initdb"
