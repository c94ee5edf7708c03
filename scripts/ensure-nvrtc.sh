#!/usr/bin/env bash
# NVRTC (CUDA's run-time compiler) from PyPI, so that the CUDA kernels can be compiled here
# without a GPU or a CUDA install: `scripts/ensure-nvrtc.sh 12|13` downloads NVIDIA's wheel
# (nvidia-cuda-nvrtc-cu12, or nvidia-cuda-nvrtc 13.x) once into target/nvrtc/<major>/ and
# prints the directory that holds libnvrtc.so.<major>, for LD_LIBRARY_PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
major=${1:-13}
case $major in
  12) spec="nvidia-cuda-nvrtc-cu12" ;;
  13) spec="nvidia-cuda-nvrtc>=13,<14" ;;
  *) echo "ensure-nvrtc: CUDA major version 12 or 13, not '$major'" >&2; exit 2 ;;
esac
dir="$PWD/target/nvrtc/$major"
lib=$(find "$dir" -name "libnvrtc.so.$major" -printf '%h\n' 2>/dev/null | head -n 1 || true)
if [ -z "$lib" ]; then
  echo "ensure-nvrtc: downloading NVRTC $major from PyPI ($spec)" >&2
  rm -rf "$dir" && mkdir -p "$dir"
  python3 -m pip download --no-deps --quiet --dest "$dir" "$spec" >&2
  # Unpack only the shared libraries, with Python's zipfile (no unzip binary needed).
  python3 - "$dir" <<'PY'
import pathlib, sys, zipfile
d = pathlib.Path(sys.argv[1])
for wheel in d.glob("*.whl"):
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if ".so" in pathlib.PurePath(name).name:
                z.extract(name, d)
    wheel.unlink()
PY
  lib=$(find "$dir" -name "libnvrtc.so.$major" -printf '%h\n' | head -n 1)
  [ -n "$lib" ] || { echo "ensure-nvrtc: the wheel held no libnvrtc.so.$major" >&2; exit 1; }
fi
echo "$lib"
