#!/usr/bin/env bash
# Build the browser demo and serve web/ on http://localhost:${PORT:-8000}/ (WebGPU needs
# a secure context: localhost counts as one). Open that address in a WebGPU browser.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/web-build.sh
port=${PORT:-8000}
echo "serving web/ on http://localhost:$port/ (Ctrl-C stops)" >&2
exec python3 web/serve.py --port "$port"
