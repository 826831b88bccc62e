#!/usr/bin/env bash
# Makes sure PostgreSQL's server binaries are installed: the project starts
# its own clusters from them (make run, make test). Installs Debian's
# postgresql package when running as root; otherwise says what to install.
set -euo pipefail
if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then exit 0; fi
for d in /usr/lib/postgresql/*/bin; do
  if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then exit 0; fi
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "PostgreSQL server binaries not found: installing Debian's postgresql package" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql postgresql-contrib >/dev/null
  exit 0
fi
echo "PostgreSQL server binaries (initdb, pg_ctl) not found. Install them, e.g." >&2
echo "  sudo apt-get install postgresql        (Debian/Ubuntu)" >&2
echo "or run the tests against an existing server with TEST_DATABASE_URL=postgres://..." >&2
exit 1
