"""Summarise the demo outputs (reads the GeoTIFFs the algorithms wrote)."""

import json
import os
import sys

import numpy as np
from osgeo import gdal

OUT = sys.argv[1] if len(sys.argv) > 1 else "demo_output"
CASES = [
    ("tas_annual_trend.tif", "Iberia annual mean air temperature 1981-2010 (CRU TS 4.00)", 10, "degC per decade"),
    ("pr_annual_trend.tif", "Iberia annual precipitation 1981-2010, Hamed-Rao", 10, "mm per decade"),
    ("tas_seasonal_trend.tif", "Iberia monthly air temperature, seasonal Mann-Kendall", 10, "degC per decade"),
    ("tas_anomalies_trend.tif", "Detrended monthly anomalies (should show no trend)", 10, "degC per decade"),
    ("cru404_tmp_annual_trend.tif", "CRU TS 4.04 native file, 6 land cells, 1901-2019", 100, "degC per century"),
]


def bands(path):
    ds = gdal.Open(path)
    return {ds.GetRasterBand(i + 1).GetDescription(): ds.GetRasterBand(i + 1).ReadAsArray().astype(float)
            for i in range(ds.RasterCount)}, ds


lines = ["# ecoresp demo", "", "## Site partitioning (FLUXNET2015 DE-Tha 2011-2012; REddyProc example DE-Tha 1998)", "",
         "| site-year | E0 NT (K) | E0 night / day DT-RH (K) | gamma DT-RH (1/%) | ER NT | ER DT | ER DT-RH "
         "| GPP NT vs FLUXNET R2 | GPP DT vs FLUXNET R2 |", "|---|---|---|---|---|---|---|---|---|"]


def _f(row, key, fmt="{:.0f}"):
    try:
        v = float(row.get(key, ""))
    except (TypeError, ValueError):
        return "-"
    return fmt.format(v) if np.isfinite(v) else "-"


import csv  # noqa: E402

summaries = [os.path.join(OUT, "partition_DE-Tha_1998_summary.csv")]
gpkg = os.path.join(OUT, "partition_DE-Tha_2011-2012_summary.gpkg")
rows = []
if os.path.exists(gpkg):
    from osgeo import ogr
    ds = ogr.Open(gpkg)
    lyr = ds.GetLayer(0)
    for feat in lyr:
        rows.append({k: feat.GetField(k) for k in feat.keys()})
for path in summaries:
    if os.path.exists(path):
        with open(path) as fh:
            rows += list(csv.DictReader(fh))
for r in rows:
    lines.append(f"| {r['site_id']} {r['year']} | {_f(r, 'E0_NT_K')} | {_f(r, 'E0_NIGHT_DTRH_K')} / "
                 f"{_f(r, 'E0_DAY_DTRH_K')} | {_f(r, 'GAMMA_DTRH', '{:.4f}')} | {_f(r, 'RECO_NT_gC')} | "
                 f"{_f(r, 'RECO_DT_gC')} | {_f(r, 'RECO_DTRH_gC')} | {_f(r, 'GPP_NT_vs_REF_R2', '{:.3f}')} | "
                 f"{_f(r, 'GPP_DT_vs_REF_R2', '{:.3f}')} |")
lines += ["", "ER in g C m-2 yr-1. Reports: partition_*.html; DT-RH against NT: evaluate_DTRH_vs_NT.html.", "",
          "## Trends of real CRU TS grids", "",
         "| series | pixels tested | median slope | significant increase | significant decrease |",
         "|---|---|---|---|---|"]
for name, label, scale, unit in CASES:
    b, ds = bands(os.path.join(OUT, name))
    ok = ~np.isnan(b["slope"])
    n = int(ok.sum())
    inc = int((b["trend"][ok] > 0).sum())
    dec = int((b["trend"][ok] < 0).sum())
    lines.append(f"| {label} | {n} | {np.median(b['slope'][ok]) * scale:.3f} {unit} | "
                 f"{inc} ({100 * inc / n:.0f} %) | {dec} ({100 * dec / n:.0f} %) |")
opts = json.loads(gdal.Open(os.path.join(OUT, "tas_annual_trend.tif")).GetMetadataItem("ECORESP_OPTIONS"))
lines += ["", f"Options recorded in tas_annual_trend.tif: {opts}",
          "", "Data: FLUXNET2015 (Pastorello et al. 2020, Sci Data 7:225, CC-BY-4.0); REddyProc example DE-Tha 1998 "
          "(Wutzler et al. 2018); CRU TS v4.00/4.04 (Harris et al. 2020, Sci Data 7:109); see tests/data/README.md."]
masked = os.path.join(OUT, "masked")
if os.path.exists(os.path.join(masked, "predict.json")):
    with open(os.path.join(masked, "predict.json")) as fh:
        left = json.loads(json.load(fh)["results"]["LEFT_OUT"])
    with open(os.path.join(masked, "er_totals.csv")) as fh:
        first = [r for r in csv.DictReader(fh) if r["zone"] == "0"][0]
    lines += ["", "## Upscaling with permanent ice and open water masked (step 8)", "",
              f"Predicted {left['predicted']} of {left['considered']} pixel-months on the land mask; left out "
              f"{left['left_out']} (classes the model never saw: {left['unknown_categories'] or 'none'}). "
              f"Totals {first['year']}: {float(first['missing_share']) * 100:.2f} % of the land "
              f"({float(first['missing_area_km2']):.0f} of {float(first['land_area_km2']):.0f} km2, "
              f"{first['missing_pixel_months']} pixel-months) has no ER and is left out (masked/er_totals.csv)."]
text = "\n".join(lines) + "\n"
with open(os.path.join(OUT, "summary.md"), "w") as fh:
    fh.write(text)
print(text)
