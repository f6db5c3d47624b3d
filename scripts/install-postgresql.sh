#!/usr/bin/env bash
# Install Debian's PostgreSQL server binaries when missing (`python -m pipeline airflow` and the
# Airflow tests start their own cluster). Idempotent; needs root on a fresh machine. Nothing is
# started or enabled here.
set -euo pipefail
BIN=/usr/lib/postgresql/15/bin
source "$(dirname "$0")/apt-install.sh"
if ! [ -x "$BIN/initdb" ] || ! [ -x "$BIN/pg_ctl" ] || ! [ -x "$BIN/postgres" ]; then
    apt_install postgresql postgresql-15
fi
test -x "$BIN/initdb"
