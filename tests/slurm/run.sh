#!/usr/bin/env bash
# `make test-slurm`: installs Slurm and munge if missing, starts a real single-node cluster in a temp dir, runs the
# Slurm executor's tests against it (tests/slurm.rs), and stops every daemon it started, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/slurm/cluster.sh

if [ "$(id -u)" != 0 ]; then
  echo "tests/slurm/run.sh needs root (it installs Debian packages and starts slurmctld/slurmd as root)"; exit 1
fi
slurm_install
D=$(mktemp -d /tmp/wgf-slurm.XXXXXX)
trap 'slurm_stop "$D"; rm -rf "$D"' EXIT
start=$(date +%s)
slurm_start "$D"
echo "== single-node Slurm up in $(( $(date +%s) - start )) s ($(sinfo -h -o '%N %c CPUs %T'))"
cargo test --locked --test slurm -- --ignored --test-threads=1
echo "== Slurm checks took $(( $(date +%s) - start )) s"
