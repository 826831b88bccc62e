#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed: the docs page is tested in a
# real headless browser (api/docs_browser_test.go). Installs it when
# running as root; otherwise says what to install.
set -euo pipefail
command -v chromium >/dev/null && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "chromium not found: installing Debian's chromium package" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
  exit 0
fi
echo "chromium not found: install it (sudo apt-get install chromium) for the browser test of /docs" >&2
exit 1
