#!/usr/bin/env bash
# Makes sure PgBouncer and HAProxy are installed, for `make cluster` and
# `make scale-test` (PostgreSQL comes from internal/pglocal/ensure-postgres.sh).
# Installs Debian's packages when running as root; otherwise says what to
# install. The packages' own services are not started here (nor needed):
# the cluster runs its own instances with its own configuration.
set -euo pipefail
missing=()
command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "${missing[*]} not found: installing Debian's package(s)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi
echo "${missing[*]} not found. Install them, e.g." >&2
echo "  sudo apt-get install ${missing[*]}        (Debian/Ubuntu)" >&2
exit 1
