"""Crop the real 0.5-degree static fields to the grid of the CRU TS Iberia series (16 x 26 cells,
lon -9.5..3.5, lat 36..44), for the demo's upscaling and attribution chain.

    .venv/bin/python tests/data/iberia/make_iberia_static.py

Sources (see tests/data/README.md): MODIS MCD12C1 2019 IGBP dominant class and land fraction
(MCD12C1_2019_IGBP_0p5deg.nc) and the simplified Koppen dominant class
(climate_zones_landmask_0p5deg.nc). gdal.Translate with a projection window on the same 0.5-degree
lattice copies cells unchanged (no resampling).
"""

import os

from osgeo import gdal

gdal.UseExceptions()
HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.dirname(HERE)
WINDOW = [-9.5, 44.0, 3.5, 36.0]  # ulx, uly, lrx, lry
JOBS = [
    ("MCD12C1_2019_IGBP_0p5deg.nc", "igbp_dominant", "iberia_igbp_2019.tif", "Byte"),
    ("MCD12C1_2019_IGBP_0p5deg.nc", "land_fraction_percent", "iberia_land_fraction_percent.tif", "Float32"),
    ("climate_zones_landmask_0p5deg.nc", "koppen_dominant", "iberia_koppen_dominant.tif", "Byte"),
]

for src, var, dst, dtype in JOBS:
    ds = gdal.Open(f'NETCDF:"{os.path.join(DATA, src)}":{var}')
    out = gdal.Translate(os.path.join(HERE, dst), ds, projWin=WINDOW, outputType=getattr(gdal, f"GDT_{dtype}"),
                         creationOptions=["COMPRESS=DEFLATE"], outputSRS="EPSG:4326")
    out.GetRasterBand(1).SetDescription(var)
    out.SetMetadataItem("SOURCE", f"{src}:{var}, cropped to lon -9.5..3.5, lat 36..44")
    out = None
    print(dst)
