#!/usr/bin/env bash
# Headless qgis_process with this checkout as the 'ecoresp' plugin: the one place that knows how
# each QGIS wants qgis_process called. Debian ships /usr/bin/qgis_process.bin behind a wrapper;
# on QGIS 3.22 the wrapper passes --noversioncheck, which 3.22 rejects, so the binary is called
# directly there and everywhere it exists (3.40, 3.44: the wrapper only adds GRASS paths).
# Elsewhere the qgis_process on PATH; ECORESP_QGIS_PROCESS overrides both.
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
qp="${ECORESP_QGIS_PROCESS:-}"
if [ -z "$qp" ]; then
  if [ -x /usr/bin/qgis_process.bin ]; then qp=/usr/bin/qgis_process.bin
  else qp="$(command -v qgis_process || true)"; fi
fi
[ -n "$qp" ] || { echo "qgis_process not found: install QGIS (Debian: apt-get install qgis)" >&2; exit 127; }
"$qp" plugins enable ecoresp >/dev/null 2>&1 || true
"$qp" "$@"
