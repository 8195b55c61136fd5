#!/usr/bin/env bash
# The README's "run" command: passthru-sync on an embedded SQLite database, passthru-proxy
# following the file it writes, and a demo upstream — all on loopback, state under target/demo/.
# Installs what the machine lacks (.ci/setup), builds release binaries, then runs until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

PROXY_ADDR=${PROXY_ADDR:-127.0.0.1:8080}
ADMIN_ADDR=${ADMIN_ADDR:-127.0.0.1:9901}
UPSTREAM_ADDR=${UPSTREAM_ADDR:-127.0.0.1:9080}
STATE=target/demo

.ci/setup
cargo build --release --bins --example demo_upstream -p passthru-sync -p passthru-proxy
bin=target/release
rm -rf "$STATE" && mkdir -p "$STATE"

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

target/release/examples/demo_upstream "$UPSTREAM_ADDR" 2>"$STATE/upstream.log" &
pids+=($!)

sync=("$bin/passthru-sync" --sqlite-path "$STATE/sync.db" --output "$STATE/routes.yaml")
"${sync[@]}" migrate
"${sync[@]}" routes add --path /demo --target "http://$UPSTREAM_ADDR/v1" --include-subpath --auth false \
  --header 'x-demo=added by passthru' --query 'source=passthru-demo' >/dev/null
"${sync[@]}" routes add --path /private --target "http://$UPSTREAM_ADDR/private" --include-subpath --auth true >/dev/null
printf %s sk-demo-key | "${sync[@]}" keys add --key-stdin >/dev/null
"${sync[@]}" run --interval 2s 2>"$STATE/sync.log" &
pids+=($!)

for _ in $(seq 100); do [ -s "$STATE/routes.yaml" ] && break; sleep 0.1; done
"$bin/passthru-proxy" run --routes "$STATE/routes.yaml" --listen "$PROXY_ADDR" --admin "$ADMIN_ADDR" \
  2>"$STATE/proxy.log" &
pids+=($!)
for _ in $(seq 100); do curl -fs "http://$ADMIN_ADDR/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

cat <<MSG

passthru is running (logs and state in $STATE/):
  demo upstream   http://$UPSTREAM_ADDR
  passthru-sync   embedded SQLite $STATE/sync.db -> $STATE/routes.yaml
  passthru-proxy  http://$PROXY_ADDR   (admin: http://$ADMIN_ADDR/metrics)

Send a request:
  curl http://$PROXY_ADDR/demo/hello?x=1
  curl http://$PROXY_ADDR/private/secret                                     # 401
  curl http://$PROXY_ADDR/private/secret -H 'Authorization: Bearer sk-demo-key'

Change the table while it runs (the proxy follows within a poll):
  ${sync[*]} routes add --path /more --target http://$UPSTREAM_ADDR/more --auth false
  ${sync[*]} routes list

Ctrl-C stops everything.
MSG
wait
