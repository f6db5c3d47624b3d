#!/usr/bin/env bash
# Install Debian's Chromium when missing (the browser tests drive it with Playwright).
# Idempotent; needs root on a fresh machine. Playwright's own browser download is not used.
set -euo pipefail
source "$(dirname "$0")/apt-install.sh"
if ! command -v chromium >/dev/null; then
    apt_install chromium chromium
fi
command -v chromium >/dev/null
