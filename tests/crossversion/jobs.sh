#!/usr/bin/env bash
# Reference jobs run through qgis_process on one QGIS installation, for comparing the numbers of
# two installations (QGIS 3.22 / 3.40 / 3.44): `make compare-trixie` runs them here and in the
# Debian 13 root and compares with tests/crossversion/compare.py.
#   bash tests/crossversion/jobs.sh OUT
# 1. ecoresp:trend on a GeoTIFF stack (CRU TS tas over Iberia, 1981-2010, one dated band a month)
# 2. ecoresp:fitupscaler on the FLUXNET2015 site-month table, then ecoresp:predictupscaler on the
#    same table (table mode)
# 3. ecoresp:partition of a FLUXNET2015 file with NT, DT and DT-RH
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:?usage: jobs.sh OUT}"
mkdir -p "$OUT"; OUT="$(cd "$OUT" && pwd)"
QP=.ci/qgis_process.sh
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=/usr/bin/python3
SITES=tests/data/sites/fluxnet2015_site_month.csv
FLX=tests/data/flux/FLX_DE-Tha_FLUXNET2015_zarrsubset_HH_2011-2012.csv.gz

run() {  # run ALG KEY=VALUE...: stops with the log on failure
  local alg="$1"; shift
  echo "== $alg"
  local t0=$SECONDS
  "$QP" --json run "$alg" -- "$@" > "$OUT/${alg#ecoresp:}.json" 2> "$OUT/${alg#ecoresp:}.log" \
    || { tail -20 "$OUT/${alg#ecoresp:}.log"; exit 1; }
  echo "   $((SECONDS - t0)) s"
}

"$PY" - "$OUT/tas_stack.tif" <<'PY'
import sys
from ecoresp_core.io.series import SeriesWriter, open_series
src = open_series("tests/data/cru_ts400_iberia_1981-2010_monthly.nc", "tas")
with SeriesWriter(sys.argv[1], src.grid, src.date_strings()) as w:  # one dated band a month
    w.write_block(0, src.read_block(0, src.grid.height))
    w.commit()
PY
run ecoresp:trend INPUT="$OUT/tas_stack.tif" OUTPUT="$OUT/trend.tif"
run ecoresp:fitupscaler INPUT=$SITES TARGET=RECO_NT_gC_m2_d 'FEATURES=TA_F_degC;VPD_F_hPa;IGBP' \
    'FILTER=to_real("frac_measured") >= 0.2' GROUP=site_id SEED=1 TREES=100 OUTPUT="$OUT/er.npz" \
    METRICS="$OUT/cv.csv" IMPORTANCE="$OUT/importance.csv"
run ecoresp:predictupscaler MODEL="$OUT/er.npz" TABLE=$SITES OUTPUT_TABLE="$OUT/predicted.csv"
run ecoresp:partition INPUT=$FLX METHODS=NT,DT,DTRH OUTPUT="$OUT/partitioned.csv" SUMMARY="$OUT/summary.csv"
"$PY" -c "import qgis.core, numpy, sklearn, scipy; print(qgis.core.Qgis.QGIS_VERSION, 'numpy', numpy.__version__, 'scikit-learn', sklearn.__version__, 'scipy', scipy.__version__)" > "$OUT/versions.txt"
echo "jobs.sh: outputs in $OUT ($(cat "$OUT/versions.txt"))"
