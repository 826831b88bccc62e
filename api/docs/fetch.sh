#!/usr/bin/env bash
# Vendors Swagger UI (npm package swagger-ui-dist, Apache-2.0) into this
# folder so /docs works offline: the service serves these files itself and
# the page makes no request outside the server. Rerun after changing VERSION.
set -euo pipefail
VERSION=5.35.0
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "swagger-ui-dist@$VERSION" >/dev/null && tar -xzf swagger-ui-dist-*.tgz)
mkdir -p swagger-ui
for f in swagger-ui-bundle.js swagger-ui.css LICENSE; do
  cp "$tmp/package/$f" "swagger-ui/$f"
done
# The bundle ends with a sourceMappingURL the service does not serve.
sed -i '/^\/\/# sourceMappingURL=/d' swagger-ui/swagger-ui-bundle.js swagger-ui/swagger-ui.css
echo "swagger-ui-dist@$VERSION" > swagger-ui/VERSION
