"""The attribution jobs' checks name the parameter they are about when the caller gives its
label (ecoresp_core.jobs.attribution: check_inputs' minimum number of valid years, zones_table's
driver groups and zones raster)."""

import numpy as np
import pytest
from conftest import monthly_dates, write_stack
from osgeo import gdal

from ecoresp_core.errors import InputError
from ecoresp_core.io.series import open_series
from ecoresp_core.jobs import attribution as jobs

NAMES = ["TA", "pre", "SM"]


@pytest.fixture
def series(tmp_path):
    rng = np.random.default_rng(1)
    dates = monthly_dates(1990, 12 * 12)
    er = open_series(write_stack(tmp_path / "er.tif", rng.uniform(1, 5, (144, 2, 3)), dates))
    drivers = [open_series(write_stack(tmp_path / f"{n}.tif", rng.uniform(0, 9, (144, 2, 3)), dates)) for n in NAMES]
    return er, drivers


def test_min_valid_above_the_years_names_its_parameter(series):
    er, drivers = series
    assert jobs.check_inputs(er, drivers, NAMES, min_valid=12, min_valid_what="Minimum (MIN_VALID)") == 12
    with pytest.raises(InputError, match=r"^Minimum \(MIN_VALID\): ER .*er.tif: 12 years after annual preparation "
                                         r"and detrending; at least 13 are needed$"):
        jobs.check_inputs(er, drivers, NAMES, min_valid=13, min_valid_what="Minimum (MIN_VALID)")
    with pytest.raises(InputError, match=r"^ER .*er.tif: 143 time steps after asis preparation and detrending; at "
                                         r"least 150 are needed \(the minimum number of valid time steps per pixel\)"):
        jobs.check_inputs(er, drivers, NAMES, mode="asis", detrend="diff", min_valid=150)


def test_too_few_years_for_the_drivers_is_not_about_min_valid(series, tmp_path):
    er, drivers = series
    dates = monthly_dates(1990, 60)   # 5 years: fewer than 3 drivers + 3
    short = [open_series(write_stack(tmp_path / f"s{i}.tif", np.ones((60, 2, 3)), dates)) for i in range(4)]
    with pytest.raises(InputError, match=r"^ER .*s0.tif: 5 years after annual preparation and detrending; at least "
                                         r"6 are needed for 3 drivers \(n - 2 - k >= 2\)$"):
        jobs.check_inputs(short[0], short[1:], NAMES, min_valid=4, min_valid_what="Minimum (MIN_VALID)")


def _dominant(path):
    write_stack(path, np.array([[[1, 2, 0], [3, 3, 1]]], dtype=float), ["dominant"], dtype="Byte")
    ds = gdal.Open(str(path), gdal.GA_Update)
    ds.GetRasterBand(1).SetMetadataItem("CLASS_NAMES", "0=none;1=TA;2=pre;3=SM")
    ds = None
    return str(path)


def test_zones_table_names_groups_and_an_empty_zones_raster(tmp_path):
    dom = _dominant(tmp_path / "dom.tif")
    with pytest.raises(InputError, match=r"^Groups \(GROUPS\): group given for unknown driver\(s\) XX; drivers are "
                                         r"TA, pre, SM$"):
        jobs.zones_table(dom, groups={"XX": "water"}, groups_what="Groups (GROUPS)")
    empty = write_stack(tmp_path / "zones.tif", np.full((1, 2, 3), np.nan), ["zones"], nodata=-1)
    with pytest.raises(InputError, match=r"^zones raster .*zones.tif has no value: every cell is nodata$"):
        jobs.zones_table(dom, empty, "categorical")
    rows = jobs.zones_table(dom, groups={"SM": "other"}, groups_what="Groups (GROUPS)")
    sm = [r for r in rows if r["kind"] == "driver" and r["name"] == "SM"]
    assert [(r["group"], r["n_pixels"]) for r in sm] == [("other", 2)]
