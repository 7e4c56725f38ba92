#!/usr/bin/env bash
# The side-by-side benchmark (issue 12), on demand, never in CI: the whole seller flow at
# 64 connections for 60 s against iop-callback, then against bench/flask_callback.py on
# gunicorn, in one run; then the sizes. Results go in BENCHMARKS.md.
#
#   bash bench/side-by-side.sh [--duration SECONDS] [--connections N]
#
# Needs python3 with venv (Flask, gunicorn and requests are installed from PyPI into
# target/bench-venv the first time).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/bench-venv
if [ ! -x "$venv/bin/gunicorn" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet flask gunicorn requests
fi
cargo build --release --locked
cargo build --release --locked --examples

IOP_BENCH_VENV=$venv target/release/examples/flow-bench --connections 64 --duration 60 \
  --compare flask "$@"

echo
echo "versions: $("$venv/bin/python" --version), $("$venv/bin/pip" freeze | grep -iE '^(flask|gunicorn|requests)==' | tr '\n' ' ')"
echo "iop-callback binary: $(stat -c %s target/release/iop-callback) bytes"
bash tests/container/image-size.sh | tail -3
