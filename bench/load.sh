#!/usr/bin/env bash
# On-demand load benchmark (never run by CI, asserts nothing): the release binary's demo on
# loopback, wrk against the pages a browser and a load balancer hit. Prints requests/s and
# latency per route, plus the server's peak memory.
#   apt-get install -y wrk && cargo build --release --locked && bash bench/load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/iop-callback
duration=${DURATION:-10s}
connections=${CONNECTIONS:-32}
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RUST_LOG=warn "$bin" --listen "127.0.0.1:$port" --database-url "sqlite://$data/bench.db" demo >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$data"' EXIT
until "$bin" --listen "127.0.0.1:$port" healthcheck 2>/dev/null; do sleep 0.1; done

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; wrk -t2 -c$connections -d$duration, client and server on the same machine"
# /authorize is left out: it stores a state per call, and the table is bounded (10,000).
for route in /healthz /readyz /static/app.css /; do
  printf '%-16s' "$route"
  wrk -t2 -c"$connections" -d"$duration" --latency "http://127.0.0.1:$port$route" \
    | awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {printf "%10s req/s   p50 %8s   p99 %8s\n", rps, p50, p99}'
done
echo "server peak RSS: $(awk '/VmHWM/ {print $2, $3}' /proc/$server/status)"
