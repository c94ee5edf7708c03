#!/usr/bin/env bash
# Make sure wgpu can find a GPU adapter. On Linux, a Vulkan loader plus at least one
# Vulkan driver (ICD) must be installed; where none is, install Mesa's drivers, whose
# lavapipe runs Vulkan on the CPU (mesa-vulkan-drivers pulls in the libvulkan1 loader).
# Elsewhere (macOS: Metal, Windows: DX12/Vulkan) there is nothing to do.
set -euo pipefail

[ "$(uname -s)" = Linux ] || exit 0

# grep reads all of ldconfig's output (no -q): with pipefail, grep -q exiting at the first
# match can kill ldconfig with SIGPIPE and fail the check on a machine that has the loader.
has_loader() { ldconfig -p 2>/dev/null | grep 'libvulkan\.so\.1' >/dev/null; }
has_icd() {
  [ -n "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && return 0
  compgen -G '/usr/share/vulkan/icd.d/*.json' >/dev/null ||
    compgen -G '/etc/vulkan/icd.d/*.json' >/dev/null ||
    compgen -G '/usr/local/share/vulkan/icd.d/*.json' >/dev/null
}

if has_loader && has_icd; then
  exit 0
fi

echo "ensure-gpu: no Vulkan driver found; installing Mesa's lavapipe (mesa-vulkan-drivers)" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "ensure-gpu: run as root or install sudo" >&2; exit 1; }
  SUDO=sudo
fi
command -v apt-get >/dev/null || {
  echo "ensure-gpu: no apt-get here; install your distribution's Mesa Vulkan drivers (lavapipe)" >&2
  exit 1
}
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends mesa-vulkan-drivers >/dev/null
has_loader && has_icd || { echo "ensure-gpu: Vulkan still not found after install" >&2; exit 1; }
echo "ensure-gpu: lavapipe installed" >&2
