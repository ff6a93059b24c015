#!/usr/bin/env bash
# Install Debian's Chromium and its WebDriver for the browser test of `zsbir serve`
# (tests/test_search_web.py drives it headless through selenium; nothing downloads a
# browser at run time). Idempotent; needs root (or sudo) only for apt-get.
set -euo pipefail

if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    echo "install_browser: $(chromium --version 2>/dev/null) and chromedriver already installed"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install_browser: need root or sudo for apt-get" >&2; exit 1; }
    SUDO="sudo"
fi
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium chromium-driver
echo "install_browser: $(chromium --version 2>/dev/null) ready"
