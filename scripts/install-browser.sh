#!/usr/bin/env bash
# Installs what the console's browser tests drive: Debian's Chromium and its ChromeDriver
# (packages chromium and chromium-driver: /usr/bin/chromium, /usr/bin/chromedriver). The
# tests start chromedriver themselves, on a free port, and stop it when they end.
#
#   bash scripts/install-browser.sh     # idempotent, quiet when both are there
set -euo pipefail

log() { printf '[browser] %s\n' "$*" >&2; }
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    exit 0
fi
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        log "need root to run: $*"; return 1; fi
}
log "installing Debian's chromium and chromium-driver (for the console's browser tests)"
if ! { as_root apt-get update -qq >&2 &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >&2; }; then
    log "error: could not install chromium and chromium-driver (see above); install them, then run this again"
    exit 1
fi
