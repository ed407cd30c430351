#!/usr/bin/env bash
# `make test-report`: `wgf report` on a small pipeline, checked in a real headless browser (Debian's chromium,
# installed if missing, as root, like the Slurm checks): links resolve, images load, no console message, a
# screenshot under the temp dir, and the page is byte-identical when regenerated. Under CI=true a missing chromium
# fails the test instead of skipping it.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "== installing Debian's chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
if ! command -v chromium >/dev/null; then
  if [ "${CI:-}" = true ]; then
    echo "FAIL: chromium is not installed and could not be (needs root and apt-get); the report checks need it"
    exit 1
  fi
  echo "SKIP: chromium is not installed (run as root to have it installed from Debian's packages)"
  exit 0
fi

# The binary as `cargo test` builds it for the integration tests (target/debug/wgf, profile `test`): after
# `make test`'s `cargo test --all-targets` this is a no-op. `cargo build --bin wgf` would build the crate again
# under profile `dev` (different artifacts), which took 300 s of the CI run on 2 cores.
cargo test --locked --quiet --no-run --test review
WGF=$ROOT/target/debug/wgf
D=$(mktemp -d /tmp/wgf-report.XXXXXX)
cp tests/report/pipeline.yaml "$D/"
mkdir -p "$D/notebooks/executed"
echo '<!DOCTYPE html><title>01_toys</title><p>an executed notebook</p>' > "$D/notebooks/executed/01_toys.html"
cd "$D"
"$WGF" run --quiet --jobs 1
"$WGF" figures >/dev/null
"$WGF" report
cp report/index.html first.html
"$WGF" report >/dev/null
cmp first.html report/index.html || { echo "FAIL: report/index.html changed when regenerated with nothing changed"; exit 1; }
python3 "$ROOT/tests/report/check.py" report/index.html figures "$D/report.png"
echo "== report checks passed; page and screenshot kept in $D"
