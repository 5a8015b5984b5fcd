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


lines = ["# ecoresp demo: trends of real CRU TS grids", "",
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
          "", "Data: CRU TS v4.00/4.04 (Harris et al. 2020, Sci Data 7:109), see tests/data/README.md."]
text = "\n".join(lines) + "\n"
with open(os.path.join(OUT, "summary.md"), "w") as fh:
    fh.write(text)
print(text)
