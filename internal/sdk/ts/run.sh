#!/usr/bin/env bash
# make sdk-test: generate the TypeScript client from openapi.yaml, compile
# the smoke program against it, and run it against a real `taskd serve` on
# its own throwaway PostgreSQL.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
cd "$here"
npm ci --no-audit --no-fund --silent
npm run --silent generate
npm run --silent build

work=$(mktemp -d)
chmod 755 "$work"
(cd "$root" && go build -o "$work/taskd" ./cmd/taskd)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18099)
cd "$work"
DATABASE_URL= ./taskd serve --addr "127.0.0.1:$port" > "$work/serve.out" 2> "$work/serve.log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
node "$here/dist/smoke.js" "http://127.0.0.1:$port"
