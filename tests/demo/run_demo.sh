#!/usr/bin/env bash
# The main job on the bundled example data, run through qgis_process as a user would.
# Site partitioning of two real tower files, trends of the real CRU TS Iberian grids 1981-2010 and of
# a native CRU TS 4.04 file, then the whole chain (partitioning -> upscaling -> trends -> attribution)
# as the shipped model ecoresp:whole_chain.  Writes OUT/index.html (and OUT/summary.md).
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

# 7. The whole chain as the shipped model ecoresp:whole_chain (models/whole_chain.model3): the DE-Tha tower
#    partitioned (NT, DT, DT-RH) -> its site-months (DT-RH ER, tower meteorology) joined to the screened
#    FLUXNET2015 table of 175 sites -> random forest with site-grouped CV -> monthly ER over Iberia 1981-2010
#    (real CRU TS tas, VPD from tasmin, MODIS land cover) -> totals per Koppen zone -> trend of annual ER
#    -> partial-correlation and random-forest attribution to TA, PRE, VPD -> dominant-driver shares per zone.
#    (QGIS 3.22's qgis_process does not apply model-input defaults: every input is given.)
C="$OUT/chain"; mkdir -p "$C"; D=tests/data
run ecoresp:whole_chain chain/whole_chain \
    tower_file=$D/flux/FLX_DE-Tha_FLUXNET2015_zarrsubset_HH_2011-2012.csv.gz methods=NT,DT,DTRH er_field=RECO_DTRH \
    network_table=$D/sites/fluxnet2015_site_month.csv 'network_filter=to_real("frac_measured") >= 0.2' \
    climate_file=$D/cru_ts400_iberia_1981-2010_monthly.nc tmp_variable=tas tmn_variable=tasmin pre_variable=pr \
    land_cover=$D/iberia/iberia_igbp_2019.tif land_fraction=$D/iberia/iberia_land_fraction_percent.tif \
    zones=$D/iberia/iberia_koppen_dominant.tif "zone_names=1=A tropical,2=B arid,3=C temperate,4=D cold,5=E polar" \
    seed=1 \
    partition:partitioned_fluxes=$C/partitioned.csv partition:partitioning_report=$C/partition.html \
    partition:site_year_summary=$C/site_years.csv evaluate:er_method_comparison=$C/dtrh_vs_nt.csv \
    evaluate:er_method_comparison_report=$C/dtrh_vs_nt.html sitemonths:site_month_table=$C/site_months.gpkg \
    fit:er_model_file=$C/er_model.npz fit:cross_validation_metrics=$C/cv_metrics.csv \
    fit:permutation_importances=$C/importances.csv \
    predict:monthly_er=$C/er_monthly.tif predict:share_of_months_outside_the_training_range=$C/er_outside_share.tif \
    integrate:annual_er_totals=$C/er_totals.csv integrate:er_totals_summary=$C/er_summary.csv \
    integrate:annual_er_sums=$C/er_annual.tif trend:er_trend=$C/er_trend.tif trend:er_trend_classes=$C/er_trend_classes.tif \
    partialcorrelation:partial_correlations=$C/pcor.tif partialcorrelation:dominant_driver_partial_correlation=$C/dominant_pcor.tif \
    partialcorrelation:partial_correlation_of_the_dominant_driver=$C/dominant_pcor_r.tif \
    rfattribution:rf_importances=$C/rf.tif rfattribution:dominant_driver_random_forest=$C/dominant_rf.tif \
    attributionzones:dominant_driver_shares_per_zone=$C/zones.csv

# 8. Upscaling with permanent ice and open water masked: the land mask keeps the cells with land
#    (MODIS land fraction > 0) whose dominant MODIS IGBP class is neither water (0) nor permanent snow and ice
#    (15), made with QGIS's raster calculator; the chain's model predicts on it (classes the model never saw
#    are left out and counted, e.g. CVM: no FLUXNET2015 site), and the totals report the land they leave out
#    (missing_pixel_months, missing_area_km2, missing_share per year and zone).
M="$OUT/masked"; mkdir -p "$M"
run qgis:rastercalculator masked/land_mask \
    'EXPRESSION=("iberia_land_fraction_percent@1" > 0) AND ("iberia_igbp_2019@1" != 0) AND ("iberia_igbp_2019@1" != 15)' \
    LAYERS=$D/iberia/iberia_land_fraction_percent.tif LAYERS=$D/iberia/iberia_igbp_2019.tif \
    OUTPUT=$M/land_mask_no_ice_water.tif
run ecoresp:derivedriver masked/vpd KIND=8 FIRST_FILE=$IB FIRST_VARIABLE=tasmin SECOND_FILE=$IB SECOND_VARIABLE=tas \
    OUTPUT=$M/vpd.tif
run ecoresp:predictupscaler masked/predict MODEL=$C/er_model.npz \
    "DRIVER_FILES=TA_F_degC=NETCDF:\"$IB\":tas; VPD_F_hPa=$M/vpd.tif; IGBP=$D/iberia/iberia_igbp_2019.tif" \
    LAND_MASK=$M/land_mask_no_ice_water.tif OUTPUT=$M/er_monthly.tif
run ecoresp:integrate masked/integrate INPUT=$M/er_monthly.tif UNIT=0 \
    LAND_FRACTION=$D/iberia/iberia_land_fraction_percent.tif LAND_SCALE=1 ZONES=$D/iberia/iberia_koppen_dominant.tif \
    "ZONE_NAMES=1=A tropical,2=B arid,3=C temperate,4=D cold,5=E polar" \
    OUTPUT=$M/er_totals.csv SUMMARY=$M/er_summary.csv

.venv/bin/python tests/demo/summarise.py "$OUT"
.venv/bin/python tests/demo/summary_html.py "$OUT"
echo "Summary: $OUT/index.html"
