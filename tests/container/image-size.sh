#!/usr/bin/env bash
# Reports (does not assert) the size of what the runtime image holds: the release binary
# plus an upper bound for gcr.io/distroless/cc-debian12, summed from the Installed-Size of
# the Debian 12 packages that image is assembled from (distroless drops their docs and
# maintainer scripts, so the real base is smaller). Run on a Debian 12 machine after
# `cargo build --release --locked`.
set -euo pipefail
cd "$(dirname "$0")/../.."
packages="base-files netbase tzdata ca-certificates media-types libc6 libssl3 libgcc-s1 libgomp1 libstdc++6"
base_kib=0
for p in $packages; do
  kib=$(apt-cache show --no-all-versions "$p" | awk '/^Installed-Size/ && !seen {print $2; seen = 1}')
  printf '  %-16s %6s KiB\n' "$p" "$kib"
  base_kib=$((base_kib + kib))
done
bin_kib=$(( $(stat -c %s target/release/iop-callback) / 1024 ))
total_kib=$((base_kib + bin_kib))
echo "debian $(cat /etc/debian_version)"
echo "distroless/cc base, upper bound: $((base_kib / 1024)) MiB"
echo "iop-callback binary:             $((bin_kib / 1024)) MiB ($bin_kib KiB)"
awk -v k="$total_kib" 'BEGIN { printf "image, upper bound:              %.1f MiB = %.1f MB (target: under 40 MB)\n", k / 1024, k * 1024 / 1e6 }'
