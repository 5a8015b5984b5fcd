#!/usr/bin/env bash
# Headless qgis_process with this checkout as the 'ecoresp' plugin (QGIS 3.22 recipe:
# the Debian wrapper /usr/bin/qgis_process passes --noversioncheck, which 3.22 rejects).
# Usage: .ci/qgis_process.sh list | .ci/qgis_process.sh --json run ecoresp:trend -- KEY=VALUE ...
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
export QT_QPA_PLATFORM=offscreen
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"; chmod 700 "$XDG_RUNTIME_DIR" 2>/dev/null || true
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export QGIS_CUSTOM_CONFIG_PATH="$tmp/profile"; mkdir -p "$QGIS_CUSTOM_CONFIG_PATH"
mkdir -p "$tmp/plugins"; ln -s "$here" "$tmp/plugins/ecoresp"
export QGIS_PLUGINPATH="$tmp/plugins"
/usr/bin/qgis_process.bin plugins enable ecoresp >/dev/null 2>&1 || true
/usr/bin/qgis_process.bin "$@"
