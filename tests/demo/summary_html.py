"""OUT/index.html: the demo's summary page, read back from the files the algorithms wrote
(partitioning-method comparison, regional ER series and totals, trend maps, dominant-driver maps,
attribution shares per zone, provenance).  Says clearly what is real and what is illustrative."""

import html
import json
import os
import sys

import numpy as np
import pandas as pd
from osgeo import gdal

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
from ecoresp_core.io.report import line_chart, map_svg, page, table_html  # noqa: E402

gdal.UseExceptions()
OUT = sys.argv[1] if len(sys.argv) > 1 else "demo_output"
C = os.path.join(OUT, "chain")
DRIVER_COLOURS = ["#cccccc", "#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e"]


def raster(path, band=None):
    """(array of the band named ``band`` or band 1, geotransform, dataset + band metadata)."""
    ds = gdal.Open(path)
    index = 1
    if band is not None:
        names = [ds.GetRasterBand(i + 1).GetDescription() for i in range(ds.RasterCount)]
        index = names.index(band) + 1
    b = ds.GetRasterBand(index)
    a = b.ReadAsArray().astype("float64")
    nd = b.GetNoDataValue()
    if nd is not None and not np.isnan(nd):
        a[a == nd] = np.nan
    meta = dict(ds.GetMetadata(), **b.GetMetadata())
    gt = ds.GetGeoTransform()
    ds = None
    return a, gt, meta


def csv(path):
    return pd.read_csv(path) if os.path.exists(path) else pd.DataFrame()


def link(name, text=None):
    return f'<a href="{html.escape(name)}">{html.escape(text or name)}</a>'


def dominant_classes(meta, a):
    # CLASS_NAMES=0=none;1=VPD;2=TA (io/styles.py: GTiff category names are not read back by GDAL)
    names = dict(item.split("=", 1) for item in meta.get("CLASS_NAMES", "").split(";") if "=" in item)
    codes = sorted({int(v) for v in np.unique(a[np.isfinite(a)])} | {int(k) for k in names})
    return [(c, names.get(str(c), "none" if c == 0 else f"class {c}"), DRIVER_COLOURS[c % len(DRIVER_COLOURS)])
            for c in codes if c != 255]


# every output the chain declares was returned and written (a model must return all of them)
with open(os.path.join(C, "whole_chain.json")) as fh:
    results = json.load(fh)["results"]
missing = [k for k, v in results.items() if isinstance(v, str) and v.startswith(OUT) and not os.path.exists(v)]
if len(results) < 22 or missing:
    sys.exit(f"whole chain: {len(results)} outputs returned; not written: {', '.join(missing) or '-'}")

sections = []
# 1. partitioning methods side by side
site_years = pd.concat([csv(os.path.join(OUT, "partition_DE-Tha_1998_summary.csv")),
                        csv(os.path.join(C, "site_years.csv"))], ignore_index=True)
QUANTITIES = [("RECO_NT_gC", "RECO NT (g C m-2 yr-1)", "{:.0f}"), ("RECO_DT_gC", "RECO DT (g C m-2 yr-1)", "{:.0f}"),
              ("RECO_DTRH_gC", "RECO DT-RH (g C m-2 yr-1)", "{:.0f}"), ("GPP_NT_gC", "GPP NT (g C m-2 yr-1)", "{:.0f}"),
              ("GPP_DT_gC", "GPP DT (g C m-2 yr-1)", "{:.0f}"), ("GPP_DTRH_gC", "GPP DT-RH (g C m-2 yr-1)", "{:.0f}"),
              ("E0_NT_K", "E0 NT (K)", "{:.0f}"), ("E0_NIGHT_DTRH_K", "E0 night DT-RH (K)", "{:.0f}"),
              ("E0_DAY_DTRH_K", "E0 day DT-RH (K)", "{:.0f}"), ("GAMMA_DTRH", "gamma DT-RH (%-1)", "{:.4f}"),
              ("GPP_NT_vs_REF_R2", "R2 of GPP NT against FLUXNET2015", "{:.3f}"),
              ("GPP_DT_vs_REF_R2", "R2 of GPP DT against FLUXNET2015", "{:.3f}")]


def per_site_year(df, quantities):
    """One row per quantity, a column per site-year (readable however many quantities there are)."""
    labels = [f"{r.get('site_id', '')} {r.get('year', '')}".strip() for r in df.to_dict("records")]
    rows = []
    for col, name, fmt in quantities:
        if col in df.columns:
            values = pd.to_numeric(df[col], errors="coerce")
            rows.append({"quantity": name, **{lab: (fmt.format(v + 0.0).replace("-0.0000", "0.0000")
                                                    if np.isfinite(v) else "-") for lab, v in zip(labels, values)}})
    return pd.DataFrame(rows)


body = ("<p>Real measured towers: FLUXNET2015 DE-Tha 2011-2012 (in the chain) and the REddyProc example DE-Tha "
        "1998. Annual sums in g C m-2 yr-1 by night-time (NT, Reichstein 2005), day-time (DT, Lasslop 2010) and "
        "DT-RH (day/night temperature sensitivity and a humidity response; the proposal of the methods guide, "
        "docs/methods.md, section 7). R2 against the FLUXNET2015 reference partitioning where the file carries "
        "it.</p>"
        + table_html(per_site_year(site_years, QUANTITIES), max_cols=10) +
        f"<p>Reports: {link('chain/partition.html', 'DE-Tha 2011-2012 partitioning report')}, "
        f"{link('partition_DE-Tha_1998.html', 'DE-Tha 1998')}, "
        f"{link('chain/dtrh_vs_nt.html', 'DT-RH against NT')}.</p>")
sections.append(("1. Site partitioning: methods compared", body))

# 2. upscaling: CV metrics and regional totals
cv = csv(os.path.join(C, "cv_metrics.csv"))
imp = csv(os.path.join(C, "importances.csv"))
totals = csv(os.path.join(C, "er_totals.csv"))
summary = csv(os.path.join(C, "er_summary.csv"))
chart = ""
if not totals.empty:
    series = {}
    for zone, g in totals.groupby("zone_name", sort=False):
        series[str(zone)] = (g["year"].to_numpy(), g["total_PgC"].to_numpy() * 1000.0)
    chart = line_chart(series, "Annual ER, Iberian Peninsula (illustrative)", "year", "Tg C per year", markers=True)
er_first, gt, _ = raster(os.path.join(C, "er_annual.tif"))
body = ("<p><b>Illustrative.</b> The model is real: a random forest of monthly ER (g C m-2 d-1) from air "
        "temperature, VPD and IGBP land cover, fitted on the FLUXNET2015 site-month table (175 sites, months with "
        "at least 20 % measured NEE) plus the DE-Tha tower's own DT-RH site-months, with 5-fold cross-validation "
        "grouped by site. The drivers over Iberia 1981-2010 are real CRU TS 4.00 temperature and MODIS 2019 land "
        "cover, but VPD is approximated from the minimum temperature (dew point = Tmin) because the bundled grid "
        "has no humidity, and land cover is held fixed: the maps and totals show the workflow, not an ER "
        "product.</p>" + (table_html(cv[cv["fold"].isin(["mean", "pooled"])]) if not cv.empty else "") +
        "<p>Permutation importances (drop of test EF when a driver is shuffled):</p>" + table_html(imp) +
        chart + table_html(summary) +
        map_svg(er_first, gt, "ER annual sum, first year", vmin=0, vmax=float(np.nanmax(er_first)),
                colours=("#ffffcc", "#d9f0a3", "#addd8e", "#78c679", "#41ab5d", "#238443", "#005a32"),
                unit="g C m-2 yr-1") +
        f"<p>Files: {link('chain/er_monthly.tif', 'monthly ER (360 dated bands)')}, "
        f"{link('chain/er_model.npz', 'model file')}, {link('chain/site_months.gpkg', 'site-month table')}, "
        f"{link('chain/er_totals.csv', 'annual totals')}.</p>")
sections.append(("2. Upscaling: model skill and regional ER", body))

# 2b. what the upscaling leaves out, with permanent ice and open water masked (run_demo.sh step 8)
M = os.path.join(OUT, "masked")
with open(os.path.join(M, "predict.json")) as fh:
    left = json.loads(json.load(fh)["results"]["LEFT_OUT"])
unknown = "; ".join(f"{d}: " + ", ".join(f"{k} {v}" for k, v in c.items())
                    for d, c in left["unknown_categories"].items())
mask, _, _ = raster(os.path.join(M, "land_mask_no_ice_water.tif"))
mtotals = csv(os.path.join(M, "er_totals.csv"))
first = mtotals[mtotals["year"] == mtotals["year"].min()].copy()
first["missing_share"] = (100 * first["missing_share"]).round(2)
first = first.rename(columns={"missing_share": "missing_share_percent"})[
    ["year", "zone_name", "land_area_km2", "missing_pixel_months", "missing_area_km2", "missing_share_percent",
     "total_PgC"]]
body = (f"<p>The land mask keeps {int(np.nansum(mask > 0))} cells with land whose dominant MODIS IGBP class is "
        "neither open water (0) nor permanent snow and ice (15); made with QGIS's raster calculator from the MODIS "
        "land fraction and land cover (Iberia has no ice cell; the same expression masks Greenland and "
        "Antarctica on a global grid). The chain's model predicts on it: "
        f"{left['predicted']} of {left['considered']} pixel-months predicted, {left['left_out']} left out "
        f"(classes no FLUXNET2015 training site had: {html.escape(unknown or 'none')}); "
        f"{left['outside_training_range']} pixel-months with a driver outside the training range (predicted and "
        "flagged). The totals report the land they leave out (first year; land area from cell areas x land "
        "fraction):</p>" + table_html(first) + table_html(csv(os.path.join(M, "er_summary.csv"))) +
        f"<p>Files: {link('masked/land_mask_no_ice_water.tif', 'land mask')}, "
        f"{link('masked/er_monthly.tif', 'monthly ER')} (its metadata item ECORESP_LEFT_OUT holds the counts), "
        f"{link('masked/er_totals.csv', 'annual totals with what they leave out')}.</p>")
sections.append(("2b. What the upscaling leaves out (ice and water masked)", body))

# 3. trends
slope, gt, meta = raster(os.path.join(C, "er_trend.tif"), "slope")
trend, _, _ = raster(os.path.join(C, "er_trend.tif"), "trend")
tas_slope, tgt, _ = raster(os.path.join(OUT, "tas_annual_trend.tif"), "slope")
ok = np.isfinite(slope)
body = (f"<p>Mann-Kendall test and Theil-Sen slope per pixel of annual ER sums 1981-2010 (illustrative ER) and "
        f"of real CRU TS annual mean temperature. ER: {int(ok.sum())} land pixels, median slope "
        f"{np.nanmedian(slope):.2f} g C m-2 yr-1 per year, significant increase on {int((trend[ok] > 0).sum())}, "
        f"decrease on {int((trend[ok] < 0).sum())} pixels (alpha 0.05).</p>"
        + "<p>Colour ramps follow the sign of the data: diverging (blue below 0, red above, white at 0) where a "
        "map has both signs, sequential (light to dark) where all values have one sign.</p>"
        + map_svg(slope, gt, "ER trend, illustrative", unit="g C m-2 yr-1 per year")
        + map_svg(tas_slope * 10, tgt, "Air temperature trend 1981-2010, CRU TS 4.00", unit="degC per decade"))
sections.append(("3. Trends", body))

# 4. attribution
dom, gt, dmeta = raster(os.path.join(C, "dominant_pcor.tif"))
rfdom, _, rmeta = raster(os.path.join(C, "dominant_rf.tif"))
zones = csv(os.path.join(C, "zones.csv"))
body = ("<p>Interannual variability of annual ER (detrended) attributed to annual mean temperature (TA), "
        "precipitation sums (PRE) and mean VPD: the dominant driver is the one with the largest significant "
        "partial correlation (p &lt; 0.05; 'none' otherwise), and, as an exploratory check, the largest "
        "random-forest permutation importance. <b>Illustrative</b>: ER here is the model's function of TA and VPD, "
        "so the attribution recovers the model's structure rather than evidence about ecosystems.</p>"
        + map_svg(dom, gt, "Dominant driver (partial correlation)", classes=dominant_classes(dmeta, dom))
        + map_svg(rfdom, gt, "Dominant driver (random forest, exploratory)", classes=dominant_classes(rmeta, rfdom))
        + "<p>Area shares per Koppen zone (2 arid, 3 temperate, 4 cold):</p>"
        + table_html(zones[zones["kind"] == "group"] if "kind" in zones.columns else zones))
sections.append(("4. What drives ER's interannual variability", body))

# 5. provenance
meta = raster(os.path.join(C, "er_monthly.tif"))[2]
prov = {k: meta.get(k, "") for k in ("ECORESP_ALGORITHM", "ECORESP_OPTIONS", "ECORESP_VERSIONS", "ECORESP_MODEL")}
body = ("<p>Every output records its method, options, inputs and library versions in its metadata; e.g. the "
        "monthly ER raster:</p><pre>" + html.escape(json.dumps(prov, indent=1)[:3000]) + "</pre>"
        "<p>Data: FLUXNET2015 (Pastorello et al. 2020, Sci Data 7:225, CC-BY-4.0); REddyProc example DE-Tha 1998 "
        "(Wutzler et al. 2018); CRU TS 4.00/4.04 (Harris et al. 2020, Sci Data 7:109); MODIS MCD12C1 (Friedl & "
        "Sulla-Menashe 2015); Koppen-Geiger (Beck et al. 2018). See tests/data/README.md. The trends of real CRU "
        f"grids are in {link('summary.md')}.</p>")
sections.append(("5. Provenance and data", body))

with open(os.path.join(OUT, "index.html"), "w", encoding="utf-8") as fh:
    fh.write(page("ecoresp demo: from a tower file to maps of ecosystem respiration", sections))
print(os.path.join(OUT, "index.html"))
