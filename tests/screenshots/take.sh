#!/usr/bin/env bash
# Screenshots from the real QGIS desktop (make screenshots): starts /usr/bin/qgis under Xvfb with a
# fresh profile in which the ecoresp plugin is installed and enabled, and lets tests/screenshots/take.py
# (run by QGIS with --code) save PNGs of the Processing toolbox, the partition and trend dialogs and the
# loaded trend result into OUT; QGIS quits by itself, and is killed after TIMEOUT seconds at the latest.
# Usage: tests/screenshots/take.sh [OUT]   (default: screenshots/; the PNGs already in OUT are removed first)
#   ECORESP_ZIP=dist/ecoresp.zip  install the plugin from that zip (make zip) instead of this checkout
#   TIMEOUT=300                   seconds before QGIS is killed
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
out="$(mkdir -p "${1:-screenshots}" && cd "${1:-screenshots}" && pwd)"
timeout_s="${TIMEOUT:-300}"
qgis="${ECORESP_QGIS:-qgis}"
command -v "$qgis" >/dev/null || { echo "QGIS desktop not found: install it (Debian: apt-get install qgis)" >&2; exit 127; }
command -v xvfb-run >/dev/null || { echo "xvfb-run not found (Debian: apt-get install xvfb xauth)" >&2; exit 127; }

tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
profile="$tmp/profiles/profiles/ecoresp-screenshots"
plugins="$profile/python/plugins"
mkdir -p "$plugins" "$profile/QGIS"
if [ -n "${ECORESP_ZIP:-}" ]; then
  unzip -q "$ECORESP_ZIP" -d "$plugins"          # the zip holds ecoresp/...
else
  ln -s "$here" "$plugins/ecoresp"
fi
# the plugin enabled; no tips, news, version check or first-start questions in the way
cat > "$profile/QGIS/QGIS3.ini" <<INI
[PythonPlugins]
ecoresp=true
processing=true

[qgis]
checkVersion=false
showTips322=false
showTips=false
allowVersionCheck=false

[core]
NewsFeed\\httpsfeedqgisorg\\disabled=true

[app]
projections\\defaultProjectCrs=EPSG:4326
INI

rm -f "$out"/*.png "$out/take.log"
export XDG_RUNTIME_DIR="$tmp/xdg"; mkdir -m 700 -p "$XDG_RUNTIME_DIR"
export ECORESP_SHOTS_OUT="$out" ECORESP_SHOTS_REPO="$here" QT_QPA_PLATFORM=xcb
unset QT_QPA_PLATFORM_PLUGIN_PATH
status=0
timeout -k 10 "$timeout_s" xvfb-run -a -s "-screen 0 1600x1000x24" \
  "$qgis" --profiles-path "$tmp/profiles" --profile ecoresp-screenshots --nologo --noversioncheck \
  --code "$here/tests/screenshots/take.py" >"$tmp/qgis.out" 2>&1 || status=$?
cat "$out/take.log" 2>/dev/null || true
if [ ! -e "$out/done" ]; then
  echo "QGIS did not finish the screenshots (exit $status); its output:" >&2
  tail -40 "$tmp/qgis.out" >&2
  exit 1
fi
rm -f "$out/done"
ls -l "$out"/*.png
