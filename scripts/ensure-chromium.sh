#!/usr/bin/env bash
# Makes sure Debian's headless-capable Chromium is at /usr/bin/chromium for the dashboard's
# browser test (npm playwright-core drives it; its own browser downloads do not work on these
# machines). Returns at once when it is already there; otherwise installs it with apt (~2 min).
set -euo pipefail
CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then exit 0; fi
if ! command -v apt-get >/dev/null; then
  echo "[chromium] $CHROMIUM is missing and apt-get is not available: install Chromium there" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo -n"; fi
t0=$(date +%s)
echo "[chromium] installing Debian's chromium (once, ~2 min)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
[ -x "$CHROMIUM" ] || { echo "[chromium] apt finished but $CHROMIUM is still missing" >&2; exit 1; }
echo "[chromium] installed in $(( $(date +%s) - t0 )) s: $($CHROMIUM --version 2>/dev/null | head -1)"
