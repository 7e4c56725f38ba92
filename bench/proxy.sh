#!/usr/bin/env bash
# The signing proxy under load, on demand (never in CI): a proxied GET of a small answer at
# 64 connections for 60 s, against nginx's proxy_pass to the same stand-in gateway (the
# physical floor of a proxy on this machine), then the cost of one refresh-and-repeat.
#
#   apt-get install -y nginx wrk
#   cargo build --release --locked --bin iop-callback --example bare-proxy
#   bash bench/proxy.sh
#   bash bench/proxy.sh --duration 20 --connections 64
#
# The stand-in gateway is an nginx server that answers at once from memory: /rest/seller/get
# with a small JSON success, /rest/stale/get with IllegalAccessToken, and the token refresh
# API with a fresh pair. iop-callback signs and sends every call to it (with the seller's
# token from its store); nginx passes the same GET to it unsigned. So does bare-proxy
# (bench/bare_proxy.rs): hyper's server and client with nothing of the service's own work,
# the floor of this stack on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=60
connections=64
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    *) echo "usage: bench/proxy.sh [--duration SECONDS] [--connections N]" >&2; exit 2 ;;
  esac
done
binary=${IOP_BENCH_BINARY:-target/release/iop-callback}
bare=${IOP_BENCH_BARE:-target/release/examples/bare-proxy}
[ -x "$bare" ] || {
  echo "needs $bare: cargo build --release --locked --example bare-proxy" >&2
  exit 2
}
command -v nginx >/dev/null && command -v wrk >/dev/null || {
  echo "needs nginx and wrk: apt-get install -y nginx wrk" >&2
  exit 2
}

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
gateway_port=$(free_port)
nginx_port=$(free_port)
service_port=$(free_port)
bare_port=$(free_port)

# One nginx: the stand-in gateway, and the reference proxy in front of it. One worker per
# core, as a production nginx would run.
cat >"$work/nginx.conf" <<EOF
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/body;
  proxy_temp_path $work/proxy;
  fastcgi_temp_path $work/fastcgi;
  uwsgi_temp_path $work/uwsgi;
  scgi_temp_path $work/scgi;
  upstream gateway { server 127.0.0.1:$gateway_port; keepalive 128; }
  server {
    listen 127.0.0.1:$gateway_port;
    default_type application/json;
    location = /rest/seller/get {
      return 200 '{"code":"0","request_id":"bench","data":{"name":"Bench Store","seller_id":"1001"}}';
    }
    location = /rest/stale/get {
      return 200 '{"type":"ISV","code":"IllegalAccessToken","message":"The specified access token is invalid or expired","request_id":"bench"}';
    }
    location = /rest/auth/token/refresh {
      return 200 '{"access_token":"50000bench","refresh_token":"50001bench","expires_in":86400,"refresh_expires_in":8640000,"seller_id":"1001","user_nick":"bench","code":"0","request_id":"bench"}';
    }
  }
  server {
    listen 127.0.0.1:$nginx_port;
    location / {
      proxy_pass http://gateway;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
nginx -c "$work/nginx.conf"

key=$(openssl rand -hex 32)
export IOP_APP_KEY=12345678 IOP_APP_SECRET=bench-secret-0123456789
export IOP_API_URL=http://127.0.0.1:$gateway_port/rest
export IOP_BUSINESS_API_URL=http://127.0.0.1:$gateway_port
export IOP_DATABASE_URL=sqlite://$work/tokens.db
export IOP_API_KEYS=$key RUST_LOG=warn
# The seller, adopted through a refresh at the stand-in.
IOP_IMPORT_REFRESH_TOKEN=50001bench "$binary" import >/dev/null 2>&1 || {
  echo "could not store the bench seller" >&2
  exit 1
}
# Every server runs in its own session, as nginx puts itself in one when it starts: with the
# kernel's autogroups (`/proc/sys/kernel/sched_autogroup_enabled`, on in Debian's kernels)
# the CPU is shared between sessions first, and a proxy left in this script's session would
# split a share with wrk while nginx had one to itself. (`setsid` keeps the pid: a
# background job of a script is not a group leader, so it does not fork.)
IOP_LISTEN=127.0.0.1:$service_port setsid "$binary" &
pids+=($!)
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$service_port/healthz" >/dev/null && break
  sleep 0.05
done
check=$(curl -s -H "Authorization: Bearer $key" "http://127.0.0.1:$service_port/api/v1/proxy/1001/seller/get")
case "$check" in *'"code":"0"'*) ;; *) echo "the proxy does not answer: $check" >&2; exit 1 ;; esac

load() { # name url [header]
  local out
  out=$(wrk -t2 -c"$connections" -d"${duration}s" --latency ${3:+-H "$3"} "$2")
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
  echo "| $1 | $rps | ${errors:-0} | $p50 | $p99 |"
}

echo
echo "proxied GET of a small answer, $connections connections, ${duration} s each"
echo
echo "| through | requests/s | failures | p50 | p99 |"
echo "|---|---|---|---|---|"
nginx=$(load "nginx proxy_pass" "http://127.0.0.1:$nginx_port/rest/seller/get")
echo "$nginx"
setsid "$bare" "127.0.0.1:$bare_port" "http://127.0.0.1:$gateway_port" &
pids+=($!)
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$bare_port/rest/seller/get" >/dev/null && break
  sleep 0.05
done
bare_row=$(load "bare hyper proxy (nothing of ours)" "http://127.0.0.1:$bare_port/rest/seller/get")
echo "$bare_row"
kill "${pids[1]}"
# The service's own CPU per call (user and system, from /proc), the figure to watch when
# changing the proxy's path: requests/s moves with whatever else the box runs.
cpu_ticks() { awk '{print $14 + $15}' "/proc/${pids[0]}/stat"; }
before=$(cpu_ticks)
proxied=$(load "iop-callback proxy" "http://127.0.0.1:$service_port/api/v1/proxy/1001/seller/get" "Authorization: Bearer $key")
after=$(cpu_ticks)
echo "$proxied"
rps=$(awk -F'|' '{print $3}' <<<"$proxied")
per_call=$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v r="$rps" -v d="$duration" \
  'BEGIN { printf "%.1f", t / hz * 1e6 / (r * d) }')

# One connection, one call at a time: a plain call, and one whose token the gateway calls
# stale (the proxy refreshes the pair, stores it and repeats the call once).
single() { # url
  wrk -t1 -c1 -d10s --latency -H "Authorization: Bearer $key" "$1" | awk '$1 == "50%" {print $2}'
}
plain=$(single "http://127.0.0.1:$service_port/api/v1/proxy/1001/seller/get")
stale=$(single "http://127.0.0.1:$service_port/api/v1/proxy/1001/stale/get")
share() { awk -F'|' -v a="$1" -v b="$2" 'BEGIN { split(a, x, "|"); split(b, y, "|"); printf "%.1f", 100 * x[3] / y[3] }'; }
echo
echo "share of nginx's requests/s: iop-callback $(share "$proxied" "$nginx") %, bare hyper $(share "$bare_row" "$nginx") %"
echo "the service's CPU per proxied call: $per_call us"
echo "one call at a time (median): plain $plain; with a refresh and a repeat $stale"
