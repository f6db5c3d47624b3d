#!/usr/bin/env bash
# Install Debian's Chromium when missing (the browser tests drive it with Playwright).
# Idempotent; needs root on a fresh machine. Playwright's own browser download is not used.
set -euo pipefail
if command -v chromium >/dev/null; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-chromium: chromium is missing and installing it needs root" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null
