"""Table outputs under temporary names (issue 15): a table QGIS writes for ecoresp goes to
``.<name>.<pid>-<random>.partial.<ext>`` beside its destination and is renamed over it only when
the whole run succeeded (algorithms/staging.py, staged_tables).  A run that fails after writing
its first table leaves an older table there byte for byte and no temporary file; a successful run
leaves exactly the destination, and the layer QGIS loads on completion is the destination."""

import os

import numpy as np
import pytest
from conftest import HAS_QGIS_PROCESS, write_stack
from osgeo import gdal

pytestmark = pytest.mark.qgis
OLD = b"old,table\n1,2\n"
GT = (10.0, 0.5, 0.0, 50.0, 0.0, -0.5)


def stack(tmp_path):
    dates = [f"{y}-{m:02d}-15" for y in (2000, 2001) for m in range(1, 13)]
    return write_stack(tmp_path / "er.tif", np.ones((24, 4, 5)), dates, geotransform=GT)


def written(tmp_path):
    """The files of ``tmp_path`` besides the input (and GDAL's .aux.xml statistics)."""
    return sorted(f for f in os.listdir(tmp_path) if f != "er.tif" and not f.endswith(".aux.xml"))


def rows(path):
    ds = gdal.OpenEx(str(path), gdal.OF_VECTOR)
    layer = ds.GetLayer(0)
    out = layer.GetName(), [f.GetField("year") for f in layer]
    ds = None
    return out


@pytest.mark.skipif(not HAS_QGIS_PROCESS, reason="needs qgis_process")
def test_failed_second_output_keeps_the_older_table(qgis_process, tmp_path):
    er = stack(tmp_path)
    (tmp_path / "t.csv").write_bytes(OLD)
    bad = tmp_path / ("s" * 300 + ".csv")  # a name the file system refuses: SUMMARY fails after OUTPUT was written
    proc = qgis_process("run", "ecoresp:integrate", "--", f"INPUT={er}", f"OUTPUT={tmp_path / 't.csv'}",
                        f"SUMMARY={bad}")
    text = proc.stdout + proc.stderr
    assert proc.returncode == 1, text[-2000:]
    assert "Comparison table (mean and SD of the annual totals) (SUMMARY): cannot write" in text, text[-2000:]
    assert "Traceback" not in text
    assert (tmp_path / "t.csv").read_bytes() == OLD  # the older table, byte for byte
    assert written(tmp_path) == ["t.csv"]  # no partial file of OUTPUT or SUMMARY

    # the same run with a writable SUMMARY: both tables replaced, nothing else left
    ok = qgis_process("run", "ecoresp:integrate", "--", f"INPUT={er}", f"OUTPUT={tmp_path / 't.csv'}",
                      f"SUMMARY={tmp_path / 's.csv'}")
    assert ok.returncode == 0, (ok.stdout + ok.stderr)[-2000:]
    assert written(tmp_path) == ["s.csv", "t.csv"]
    assert (tmp_path / "t.csv").read_text().splitlines()[0].startswith("year,zone,total_PgC")
    assert rows(tmp_path / "t.csv")[1] == ["2000", "2001"]


@pytest.mark.parametrize("ext", ["gpkg", "csv", "xlsx"])
def test_successful_run_loads_the_destination(provider, tmp_path, ext):
    import processing
    from qgis.core import (QgsProcessingContext, QgsProcessingFeedback, QgsProcessingOutputLayerDefinition,
                           QgsProject)

    er = stack(tmp_path)
    out, summary = tmp_path / f"totals.{ext}", tmp_path / f"summary.{ext}"
    out.write_bytes(OLD)  # an older output is replaced
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    loaded = QgsProcessingOutputLayerDefinition(str(out), QgsProject.instance())
    res = processing.run("ecoresp:integrate", {"INPUT": er, "OUTPUT": loaded, "SUMMARY": str(summary)},
                         feedback=QgsProcessingFeedback(), context=context)
    assert res["OUTPUT"] == str(out) and res["SUMMARY"] == str(summary)
    assert written(tmp_path) == sorted([out.name, summary.name])
    assert list(context.layersToLoadOnCompletion()) == [str(out)]  # the destination, not the temporary file
    name, years = rows(out)
    assert [int(y) for y in years] == [2000, 2001]
    if ext != "csv":  # the layer is named after the destination (QGIS's name for a file 'totals.gpkg')
        assert name == "totals"
