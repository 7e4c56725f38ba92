#!/usr/bin/env bash
# Reproduces the Dockerfile's runtime stage without a Docker engine (none runs here):
# a root holding only what the image holds -- the release binary, the C runtime and CA
# certificates that distroless/cc provides, a /data owned by 65532 -- entered with chroot
# as the unprivileged user 65532. Checks that the service starts there, answers, keeps its
# database owner-only in /data, that `iop-callback healthcheck` exits 0 against it and
# non-zero once it is down, and that the demo runs. Needs root (for chroot) and a release
# build: cargo build --release --locked (or IOP_RUNTIME_BINARY names another build of the
# binary: CI uses the one its tests built, which needs the same libraries).
set -euo pipefail
cd "$(dirname "$0")/../.."

bin=${IOP_RUNTIME_BINARY:-target/release/iop-callback}
[ -x "$bin" ] || { echo "no $bin: run cargo build --release --locked first" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "runtime-stage check needs root (chroot); skipped" >&2; exit 1; }

root=$(mktemp -d)
chmod 0755 "$root"   # an image root is world-traversable; mktemp makes it 0700
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$root"; }
trap cleanup EXIT

# What the image contains.
install -D -m 0755 "$bin" "$root/usr/local/bin/iop-callback"
for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do install -D -m 0755 "$lib" "$root$lib"; done
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
install -d -m 0700 -o 65532 -g 65532 "$root/data"
# The mounted secret, as an orchestrator would provide it.
install -D -m 0444 /dev/stdin "$root/run/secrets/iop_app_secret" <<<"runtime-stage-secret"

passed=0; failed=0
check() { # name, command...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"; else failed=$((failed + 1)); echo "FAIL $name"; fi
}
not() { ! "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
healthcheck() { chroot --userspec=65532:65532 "$root" /usr/local/bin/iop-callback --listen "0.0.0.0:$1" healthcheck >/dev/null 2>&1; }
wait_healthy() { for _ in $(seq 1 100); do healthcheck "$1" && return 0; sleep 0.1; done; return 1; }
http_status() { python3 - "$1" <<'PY'
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=5).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print(0)
PY
}

# 1. The service, configured the way the image is used: variables and a secret file.
port=$(free_port)
(exec chroot --userspec=65532:65532 "$root" /usr/local/bin/iop-callback \
    --listen "0.0.0.0:$port" --app-key 12345678 --app-secret-file /run/secrets/iop_app_secret \
    --log-format json serve >"$root.serve.log" 2>&1) &
pids+=($!)
check "serve starts as uid 65532 and healthcheck exits 0" wait_healthy "$port"
check "GET /healthz is 200" test "$(http_status "http://127.0.0.1:$port/healthz")" = 200
check "GET /readyz is 200 (database in /data)" test "$(http_status "http://127.0.0.1:$port/readyz")" = 200
check "the database is in /data, owned by 65532, mode 0600" \
  test "$(stat -c '%u %a' "$root/data/iop-callback.db" 2>/dev/null)" = "65532 600"
check "logs are JSON" python3 -c "import json,sys; [json.loads(l) for l in open(sys.argv[1]) if l.strip()]" "$root.serve.log"
kill -TERM "${pids[0]}"; wait "${pids[0]}"; status=$?
check "SIGTERM exits 0" test "$status" = 0
check "healthcheck exits non-zero once the service is down" not healthcheck "$port"

# 2. `docker run IMAGE demo`.
port=$(free_port)
(exec chroot --userspec=65532:65532 "$root" /usr/local/bin/iop-callback --listen "0.0.0.0:$port" demo >"$root.demo.log" 2>&1) &
pids+=($!)
check "demo starts" wait_healthy "$port"
check "demo landing page says sandbox" python3 -c "import sys, urllib.request; assert b'Sandbox.' in urllib.request.urlopen(sys.argv[1]).read()" "http://127.0.0.1:$port/"
check "demo keeps its own database in /data" test -f "$root/data/iop-callback-demo.db"
kill -TERM "${pids[1]}"; wait "${pids[1]}" || true
rm -f "$root.serve.log" "$root.demo.log"

# 3. The compose example wires the volume and the secret the way the image expects.
check "docker-compose.yml: /data volume, secret file where IOP_APP_SECRET_FILE points" python3 - <<'PY'
import yaml
service = yaml.safe_load(open("docker-compose.yml"))["services"]["iop-callback"]
assert any(v.endswith(":/data") for v in service["volumes"]), service["volumes"]
secret = service["secrets"][0]
assert service["environment"]["IOP_APP_SECRET_FILE"] == f"/run/secrets/{secret}"
assert "IOP_APP_SECRET" not in service["environment"], "no secret values in the file"
PY

check "docker-compose.replicas.yml: replicas share the database and key, nothing sticky" python3 - <<'PY'
import yaml
compose = yaml.safe_load(open("docker-compose.replicas.yml"))
replicas = [compose["services"][name] for name in ("iop-a", "iop-b")]
for service in replicas:
    env = service["environment"]
    assert env["IOP_DATABASE_URL"].startswith("${"), "the database URL comes from the env file"
    assert env["IOP_ENCRYPTION_KEY_FILE"] == "/run/secrets/iop_encryption_key"
    assert "IOP_ENCRYPTION_KEY" not in env and "IOP_APP_SECRET" not in env
assert replicas[0] == replicas[1], "the replicas are configured alike"
caddy = compose["configs"]["caddyfile"]["content"]
assert "round_robin" in caddy and "sticky" not in caddy and "cookie" not in caddy
PY

# What the runtime stage holds on top of the distroless/cc base.
binary=$(stat -c %s "$bin")
total=$(du -sb "$root" | cut -f1)
echo "size: binary $((binary / 1024)) KiB; binary + C runtime + CA bundle as laid out here $((total / 1024)) KiB"

echo "runtime-stage: $passed passed, $failed failed"
[ "$failed" = 0 ]
