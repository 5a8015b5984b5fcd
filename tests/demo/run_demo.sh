#!/usr/bin/env bash
# The main job on the bundled example data, run through qgis_process as a user would.
# Today: site partitioning of two real tower files, and trends of the real CRU TS Iberian grids
# 1981-2010 and of a native CRU TS 4.04 file.  Later issues grow it into the whole chain
# (partitioning -> upscaling -> trends -> attribution).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-demo_output}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
QP=.ci/qgis_process.sh
IB=tests/data/cru_ts400_iberia_1981-2010_monthly.nc
CRU=tests/data/cru_ts4.04.1901.2019.tmp.dat.nc
FLX=tests/data/flux/FLX_DE-Tha_FLUXNET2015_zarrsubset_HH_2011-2012.csv.gz
DETHA98=tests/data/flux/Example_DETha98.txt

run() {  # run ALG NAME KEY=VALUE...; keeps the JSON answer, stops with its message on failure
  local alg="$1" name="$2"; shift 2
  echo "== $alg -> $name"
  if ! $QP --json run "$alg" -- "$@" > "$OUT/$name.json" 2> "$OUT/$name.log"; then
    echo "FAILED: $alg (see $OUT/$name.log)"; tail -5 "$OUT/$name.log"; exit 1
  fi
}

# 0. Site partitioning: NT, DT and DT-RH side by side (FLUXNET2015 DE-Tha 2011-2012, REddyProc DE-Tha 1998)
run ecoresp:partition partition_DE-Tha_2011-2012 INPUT=$FLX METHODS=NT,DT,DTRH \
    OUTPUT=$OUT/partition_DE-Tha_2011-2012.csv SUMMARY=$OUT/partition_DE-Tha_2011-2012_summary.gpkg \
    REPORT=$OUT/partition_DE-Tha_2011-2012.html
run ecoresp:partition partition_DE-Tha_1998 INPUT=$DETHA98 METHODS=NT,DT,DTRH \
    OUTPUT=$OUT/partition_DE-Tha_1998.csv SUMMARY=$OUT/partition_DE-Tha_1998_summary.csv \
    REPORT=$OUT/partition_DE-Tha_1998.html
run ecoresp:evaluate evaluate_DE-Tha_DTRH_vs_NT INPUT=$OUT/partition_DE-Tha_2011-2012.csv \
    SIM_FIELD=RECO_DTRH OBS_FIELD=RECO_NT OUTPUT=$OUT/evaluate_DTRH_vs_NT.csv REPORT=$OUT/evaluate_DTRH_vs_NT.html

# 1. Annual mean air temperature, 1981-2010: Mann-Kendall + Sen slope per year, significance classes
run ecoresp:trend tas_annual_trend INPUT_FILE=$IB VARIABLE=tas AGGREGATE=1 MIN_VALID=10 \
    OUTPUT=$OUT/tas_annual_trend.tif CLASSES=$OUT/tas_annual_trend_classes.tif
# 2. Annual precipitation totals with the Hamed-Rao autocorrelation correction
run ecoresp:trend pr_annual_trend INPUT_FILE=$IB VARIABLE=pr AGGREGATE=2 VARIANT=1 \
    OUTPUT=$OUT/pr_annual_trend.tif CLASSES=$OUT/pr_annual_trend_classes.tif
# 3. Seasonal Mann-Kendall on the monthly temperature series
run ecoresp:trend tas_seasonal_trend INPUT_FILE=$IB VARIABLE=tas VARIANT=5 \
    OUTPUT=$OUT/tas_seasonal_trend.tif
# 4. Monthly anomalies from the mean seasonal cycle, linearly detrended (input for attribution)
run ecoresp:detrend tas_anomalies INPUT_FILE=$IB VARIABLE=tas METHOD=2 OUTPUT=$OUT/tas_anomalies_detrended.tif
# 5. Chained: the detrended GeoTIFF (dated bands) as a raster layer; its trend must be ~0
run ecoresp:trend tas_anomalies_trend INPUT=$OUT/tas_anomalies_detrended.tif VARIANT=0 \
    OUTPUT=$OUT/tas_anomalies_trend.tif
# 6. A native CRU TS 4.04 file (fill value 9.96921e36), 1901-2019, annual means
run ecoresp:trend cru404_tmp_trend INPUT_FILE=$CRU VARIABLE=tmp AGGREGATE=1 \
    OUTPUT=$OUT/cru404_tmp_annual_trend.tif

.venv/bin/python tests/demo/summarise.py "$OUT"
