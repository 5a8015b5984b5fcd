#!/usr/bin/env bash
# Headless qgis_process with this checkout as the 'ecoresp' plugin: the one place that knows how
# each QGIS wants qgis_process called. Debian ships /usr/bin/qgis_process.bin behind a wrapper;
# on QGIS 3.22 the wrapper passes --noversioncheck, which 3.22 rejects, so the binary is called
# directly there and everywhere it exists (3.40, 3.44: the wrapper only adds GRASS paths).
# Elsewhere the qgis_process on PATH; ECORESP_QGIS_PROCESS overrides both.
# Usage: .ci/qgis_process.sh list | .ci/qgis_process.sh --json run ecoresp:trend -- KEY=VALUE ...
# Each call gets a fresh QGIS profile with the plugin enabled (one more qgis_process start-up);
# with ECORESP_QGIS_HOME=<folder> the calls share the profile kept there and the plugin is
# enabled by the first call only (the test session's fixture in tests/conftest.py sets it).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
export QT_QPA_PLATFORM=offscreen
# the temporary folders this call makes are removed when it ends (the qgis_process exit status is kept)
made=()
trap 'rm -rf "${made[@]}"' EXIT
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then XDG_RUNTIME_DIR="$(mktemp -d)"; made+=("$XDG_RUNTIME_DIR"); fi
export XDG_RUNTIME_DIR; chmod 700 "$XDG_RUNTIME_DIR" 2>/dev/null || true
if [ -n "${ECORESP_QGIS_HOME:-}" ]; then tmp="$ECORESP_QGIS_HOME"
else tmp="$(mktemp -d)"; made+=("$tmp"); fi
export QGIS_CUSTOM_CONFIG_PATH="$tmp/profile"; mkdir -p "$QGIS_CUSTOM_CONFIG_PATH"
mkdir -p "$tmp/plugins"; [ -e "$tmp/plugins/ecoresp" ] || ln -s "$here" "$tmp/plugins/ecoresp"
export QGIS_PLUGINPATH="$tmp/plugins"
qp="${ECORESP_QGIS_PROCESS:-}"
if [ -z "$qp" ]; then
  if [ -x /usr/bin/qgis_process.bin ]; then qp=/usr/bin/qgis_process.bin
  else qp="$(command -v qgis_process || true)"; fi
fi
[ -n "$qp" ] || { echo "qgis_process not found: install QGIS (Debian: apt-get install qgis)" >&2; exit 127; }
if [ ! -e "$tmp/.ecoresp-enabled" ]; then
  "$qp" plugins enable ecoresp >/dev/null 2>&1 || true
  [ -z "${ECORESP_QGIS_HOME:-}" ] || touch "$tmp/.ecoresp-enabled"
fi
"$qp" "$@"
