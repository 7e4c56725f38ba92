#!/usr/bin/env bash
# On-demand flood check (never run by CI): the release service under `wrk -c64` for
# DURATION on each public route an anonymous client can reach, with and without a cookie,
# then one real seller's whole flow. Prints the service's RSS after each route and its peak.
#   apt-get install -y wrk && cargo build --release --locked && bash bench/flood.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/iop-callback
duration=${DURATION:-60s}
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RUST_LOG=warn "$bin" --listen "127.0.0.1:$port" --database-url "sqlite://$data/flood.db" demo >"$data/log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$data"' EXIT
until "$bin" --listen "127.0.0.1:$port" healthcheck 2>/dev/null; do sleep 0.1; done
base="http://127.0.0.1:$port"
cookie="Cookie: iop-browser=$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
rss() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; wrk -t2 -c64 -d$duration per route; idle RSS $(rss) KiB"
for target in "/authorize" "/authorize|$cookie" "/callback?code=x&state=forged" \
              "/callback?code=x&state=forged|$cookie" "/result/00000000000000000000000000000000|$cookie"; do
  route=${target%%|*}
  header=${target#*|}; [ "$header" = "$target" ] && header="X-None: 1"
  requests=$(wrk -t2 -c64 -d"$duration" -H "$header" "$base$route" | awk '/Requests\/sec/ {print $2}')
  printf '%-55s %10s req/s   RSS after %6s KiB\n' "$route${header#X-None: 1}" "$requests" "$(rss)"
done
# A seller during the aftermath: start, then finish the authorization through the sandbox.
jar=$(mktemp)
location=$(curl -s -c "$jar" -b "$jar" -o /dev/null -w '%{redirect_url}' "$base/authorize")
state=$(python3 -c 'import sys, urllib.parse as u; print(u.parse_qs(u.urlparse(sys.argv[1]).query)["state"][0])' "$location")
back=$(curl -s -o /dev/null -w '%{redirect_url}' -X POST "$base/sandbox/oauth/decide" \
  --data-urlencode "client_id=12345678" --data-urlencode "redirect_uri=http://localhost:$port/callback" \
  --data-urlencode "state=$state" --data-urlencode "seller=ae-store" --data-urlencode "decision=approve")
code=$(python3 -c 'import sys, urllib.parse as u; print(u.parse_qs(u.urlparse(sys.argv[1]).query)["code"][0])' "$back")
status=$(curl -s -c "$jar" -b "$jar" -o /dev/null -w '%{http_code} %{redirect_url}' "$base/callback?code=$code&state=$state")
echo "a seller after the flood: callback answered $status"
rm -f "$jar"
echo "log lines written during the flood: $(wc -l < "$data/log")"
echo "peak RSS: $(awk '/VmHWM/ {print $2}' /proc/$server/status) KiB"
