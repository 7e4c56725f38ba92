#!/usr/bin/env bash
# The whole seller flow through PostgreSQL crashes (issue 27), on demand, never in CI:
# flow-bench at 16 and 64 connections for 60 s each against a PostgreSQL cluster of the
# benchmark's own, which is crashed and restarted three times (immediate stop: no
# checkpoint, crash recovery at start) and then stopped for 3 s. Prints, per run, the
# flows completed, how every other flow ended, the longest flow, and when readiness was
# down next to when the database was.
#
#   bash bench/failover.sh                 # both runs
#   CONNECTIONS="16" DURATION=30 bash bench/failover.sh
#
# A cluster of its own, not the machine's: crash recovery starts by syncing every file of
# the data directory, so on a server holding hundreds of test databases a restart takes
# 15 s, which measures the disk, not the service. Runs as root (the server then runs as
# postgres) or as the user owning PostgreSQL's programs.
set -euo pipefail
cd "$(dirname "$0")/.."

connections=${CONNECTIONS:-16 64}
duration=${DURATION:-60}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "PostgreSQL's server programs are not installed" >&2; exit 1; }

cargo build --release --locked --bin iop-callback --example flow-bench

work=$(mktemp -d /tmp/iop-failover.XXXXXX)
as_owner=()
if [ "$(id -u)" = 0 ]; then
  chown postgres:postgres "$work"
  as_owner=(runuser -u postgres --)
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pg() { "${as_owner[@]}" "$bin/pg_ctl" -D "$work/cluster" "$@" >/dev/null; }
start() { pg start -w -l "$work/server.log" -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c max_connections=200"; }
trap 'pg stop -m immediate 2>/dev/null || true; rm -rf "$work"' EXIT
"${as_owner[@]}" "$bin/initdb" -D "$work/cluster" --auth=trust --username=postgres >/dev/null
start

# The schedule, from the moment the load starts (flow-bench runs it then); each line says
# when, in seconds since.
cat >"$work/chaos.sh" <<EOF
set -e
t0=\$(date +%s%N)
ms() { echo \$(( (\$(date +%s%N) - t0) / 1000000 )); }
now() { awk "BEGIN { printf \"%.1f\", \$(ms) / 1000 }"; }
at() { while [ "\$(ms)" -lt "\$((\$1 * 1000))" ]; do sleep 0.05; done; }
pg() { ${as_owner[*]} $bin/pg_ctl -D $work/cluster "\$@" >/dev/null; }
start() { pg start -w -l $work/server.log -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c max_connections=200"; }
for when in 10 20 30; do
  at \$when; echo "  database crashed at \$(now) s"; pg stop -m immediate
  start; echo "  database back at \$(now) s"
done
at 42; echo "  database stopped at \$(now) s"; pg stop -m fast
sleep 3; start; echo "  database back at \$(now) s"
EOF

for n in $connections; do
  echo "== $n connections, $duration s"
  IOP_BENCH_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres" \
    target/release/examples/flow-bench --database postgres --connections "$n" \
    --duration "$duration" --during "bash $work/chaos.sh"
done
