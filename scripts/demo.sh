#!/usr/bin/env bash
# The main job: make sure a GPU adapter exists (installing lavapipe if needed), then run
# every method on the default workload. Extra arguments go to the demo (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-gpu.sh
exec cargo run --release --example demo -- "$@"
