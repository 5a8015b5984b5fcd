"""The job runner (ecoresp_core.jobs.runner) and input alignment (ecoresp_core.jobs.inputs):
outputs committed together or not at all, styles, provenance, Cancel, lanes closed; grid, CRS
and date differences found once for every job."""

import datetime as dt
import json
import os
from types import SimpleNamespace

import numpy as np
import pytest
from osgeo import gdal, osr

from ecoresp_core.errors import Cancelled, InputError
from ecoresp_core.io.series import Grid
from ecoresp_core.jobs.inputs import check_aligned, date_difference, grid_difference
from ecoresp_core.jobs.runner import RasterJob

GT = (-9.5, 0.5, 0.0, 44.0, 0.0, -0.5)
CLASSES = [(1, "low", "#2166ac"), (2, "high", "#b2182b")]


def _outputs(job, tmp_path, grid):
    a = job.output(tmp_path / "a.tif", grid, ["value"], band_metadata=[{"units": "degC"}])
    c = job.output(tmp_path / "c.tif", grid, ["class"], classes=CLASSES, nodata=0, dtype="Byte")

    def work(r0, r1, sub):
        a.write_block(r0, np.full((1, r1 - r0, grid.width), float(r0)))
        c.write_block(r0, np.full((1, r1 - r0, grid.width), 1 + r0 % 2))
    return work


def test_outputs_are_committed_together_with_styles_and_provenance(tmp_path):
    grid = Grid(4, 3, GT)
    done = []
    with RasterJob("test", {"alpha": 0.05}, {"input": "in.tif"}, progress=done.append) as job:
        work = _outputs(job, tmp_path, grid)
        assert job.walk(grid, 2 ** 18, work, budget_mb=1) == 3  # one row per block
        assert not any((tmp_path / n).exists() for n in ("a.tif", "c.tif", "c.qml"))  # only temporaries yet
        job.commit()
    assert sorted(os.listdir(tmp_path)) == ["a.tif", "c.qml", "c.tif"]
    assert done[-1] == 1.0
    ds = gdal.Open(str(tmp_path / "a.tif"))
    np.testing.assert_array_equal(ds.ReadAsArray(), np.repeat([[0.0], [1.0], [2.0]], 4, axis=1))
    md = ds.GetMetadata()
    assert md["ECORESP_ALGORITHM"] == "test" and json.loads(md["ECORESP_OPTIONS"]) == {"alpha": 0.05}
    assert json.loads(md["ECORESP_INPUTS"]) == {"input": "in.tif"} and "numpy" in md["ECORESP_VERSIONS"]
    cds = gdal.Open(str(tmp_path / "c.tif"))  # kept open while its band is used
    band = cds.GetRasterBand(1)
    assert band.GetColorTable().GetColorEntry(2)[:3] == (0xb2, 0x18, 0x2b)
    assert 'label="high"' in open(tmp_path / "c.qml").read()


@pytest.mark.parametrize("how", ["error", "cancel"])
def test_failure_or_cancel_leaves_nothing_and_closes_lanes(tmp_path, how):
    grid = Grid(4, 3, GT)
    calls = []
    cancelled = (lambda: calls.append(1) or len(calls) > 2) if how == "cancel" else None
    with pytest.raises(Cancelled if how == "cancel" else InputError):
        with RasterJob("test", {}, progress=None, cancelled=cancelled) as job:
            workers = job.lanes(2)
            work = _outputs(job, tmp_path, grid)
            job.walk(grid, 2 ** 18, work, budget_mb=1)
            raise InputError("every pixel is nodata")
    assert os.listdir(tmp_path) == []
    assert all(h is None for h in workers._helpers)


def _layer(label, grid, dates=()):
    return SimpleNamespace(label=label, grid=grid, dates=list(dates))


def _wkt(epsg):
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    return srs.ExportToWkt()


def test_grid_and_date_differences():
    months = [dt.datetime(2001, m, 15) for m in (1, 2, 3)]
    first_days = [dt.datetime(2001, m, 1) for m in (1, 2, 3)]
    a = _layer("a.tif", Grid(4, 3, GT, _wkt(4326)), months)
    assert grid_difference(a, _layer("b", Grid(4, 3, GT))) is None  # no CRS on one side: same cells suffice
    assert grid_difference(a, _layer("b", Grid(4, 3, GT[:3] + (44.0 + 1e-12,) + GT[4:]))) is None
    assert grid_difference(a, _layer("b", Grid(4, 3, GT, _wkt(3035)))) == "crs"
    assert grid_difference(a, _layer("b", Grid(5, 3, GT, _wkt(3035)))) == "cells"
    assert date_difference(months, first_days, "month") is None
    assert date_difference(months, first_days, "day") == 0
    assert date_difference(months, months[:2], "day") == 2
    assert date_difference(months, [months[0], dt.datetime(2001, 2, 15, 12), months[2]], "time") == 1
    assert date_difference(months, [months[0], dt.datetime(2001, 2, 15, 12), months[2]], "day") is None
    check_aligned(a, _layer("b.tif", Grid(4, 3, GT, _wkt(4326)), first_days))
    with pytest.raises(InputError, match=r"CRS differ: a\.tif and b\.tif"):
        check_aligned(a, _layer("b.tif", Grid(4, 3, GT, _wkt(3035)), months))
    with pytest.raises(InputError, match=r"grids differ: a\.tif is 4x3 cells.*b\.tif is 5x3"):
        check_aligned(a, _layer("b.tif", Grid(5, 3, GT), months))
    with pytest.raises(InputError,
                       match=r"dates differ: a\.tif has 3 time steps, b\.tif has 2; first difference at step 3"):
        check_aligned(a, _layer("b.tif", Grid(4, 3, GT), months[:2]))
