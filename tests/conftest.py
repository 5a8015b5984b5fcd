"""Test set-up: the repository is importable both as the QGIS plugin package ``ecoresp``
(through a symlink, as QGIS loads it) and as the plain core package ``ecoresp_core``."""

import gc
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "tests", "data")
FLUX = os.path.join(DATA, "flux")
QP = os.path.join(REPO, ".ci", "qgis_process.sh")
HAS_QGIS_PROCESS = os.path.exists("/usr/bin/qgis_process.bin")
# the bundled FLUXNET2015 half-hourly site-years (tests/data/README.md)
FLUXNET_FILES = {"DE-Hai": "FLX_DE-Hai_FLUXNET2015_zarrsubset_HH_2007-2008.csv.gz",
                 "DE-Tha": "FLX_DE-Tha_FLUXNET2015_zarrsubset_HH_2011-2012.csv.gz",
                 "FR-Pue": "FLX_FR-Pue_FLUXNET2015_zarrsubset_HH_2009-2010.csv.gz",
                 "US-Var": "FLX_US-Var_FLUXNET2015_zarrsubset_HH_2013-2014.csv.gz"}
# the raw tower files (REddyProc's examples, synthetic AmeriFlux BASE and EddyPro full output)
RAW_TOWER_FILES = {"DETha98": "Example_DETha98.txt", "DEGeb": "DEGebExample_2004-2006.csv",
                   "AMF": "AMF_XX-Syn_BASE_HH_1-5.csv",
                   "EddyPro": "eddypro_XX-Syn_full_output_2023-07-05T000000_synthetic.csv"}

_plugin_parent = tempfile.mkdtemp(prefix="ecoresp-plugin-")
os.symlink(REPO, os.path.join(_plugin_parent, "ecoresp"))
for p in (REPO, _plugin_parent):
    if p not in sys.path:
        sys.path.insert(0, p)


@pytest.fixture(scope="session", autouse=True)
def qgis_process_home():
    """One QGIS profile for every .ci/qgis_process.sh call of the test session (ECORESP_QGIS_HOME):
    the plugin is enabled once, by the first call, instead of before every call."""
    home = tempfile.mkdtemp(prefix="ecoresp-qgis-home-")
    old = os.environ.get("ECORESP_QGIS_HOME")
    os.environ["ECORESP_QGIS_HOME"] = home
    yield home
    if old is None:
        os.environ.pop("ECORESP_QGIS_HOME", None)
    else:
        os.environ["ECORESP_QGIS_HOME"] = old
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def qgis_process(qgis_process_home):
    """run(*args, timeout=300) -> CompletedProcess of .ci/qgis_process.sh (text output captured)."""
    def run(*args, timeout=300):
        return subprocess.run([QP, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    return run


def flux_file(name):
    """Path of a tower file of tests/data/flux: a site id of FLUXNET_FILES, a key of RAW_TOWER_FILES
    or a file name."""
    return os.path.join(FLUX, FLUXNET_FILES.get(name) or RAW_TOWER_FILES.get(name, name))


@pytest.fixture(scope="session")
def dask_cluster():
    """A ``dask.distributed.Client`` of a LocalCluster of two worker processes (one thread and a
    1 GiB memory limit each, no dashboard), shared by the tests of the session: started by the first
    test that asks for it, stopped at the end of the session.  It is not the default client: a test
    computes on it with ``ecoresp_core.cube.scheduler.run_on(dask_cluster)``, or gives
    ``dask_cluster.scheduler.address`` to ``--scheduler``."""
    distributed = pytest.importorskip("distributed")
    import dask
    # worker processes may start slowly on 2 busy cores (CI runs two pytest workers beside them)
    with dask.config.set({"distributed.comm.timeouts.connect": "180s"}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                     memory_limit="1GiB") as cluster, \
            distributed.Client(cluster, set_as_default=False, timeout="180s") as client:
        yield client


def training_table(seed=0):
    """Site-months of 10 synthetic sites for the upscaling models (pandas DataFrame: site_id, TA
    degC -5..25, SW W m-2 20..300, IGBP of 3 classes ENF/DBF/GRA, ER g C m-2 d-1 from an exponential
    of TA, 1.4x for DBF, plus 0.003 SW)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = []
    for s in range(10):
        lc = ["ENF", "DBF", "GRA"][s % 3]
        for _ in range(40):
            ta, sw = rng.uniform(-5, 25), rng.uniform(20, 300)
            rows.append({"site_id": f"S{s}", "TA": ta, "SW": sw, "IGBP": lc,
                         "ER": np.exp(0.07 * ta) * (1.4 if lc == "DBF" else 1.0) + 0.003 * sw})
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def data_dir():
    return DATA


@pytest.fixture(scope="session")
def iberia_nc():
    return os.path.join(DATA, "cru_ts400_iberia_1981-2010_monthly.nc")


@pytest.fixture(scope="session")
def cru_tmp_nc():
    return os.path.join(DATA, "cru_ts4.04.1901.2019.tmp.dat.nc")


def write_stack(path, values, dates=None, nodata=None, geotransform=(10.0, 0.5, 0, 50.0, 0, -0.5),
                epsg=4326, dtype="Float32"):
    """Write ``values`` (t, rows, cols) as a multiband GeoTIFF with dates as band
    descriptions (NaN -> nodata when ``nodata`` is given)."""
    import numpy as np
    from osgeo import gdal, osr

    values = np.asarray(values, dtype="float64")
    t, rows, cols = values.shape
    ds = gdal.GetDriverByName("GTiff").Create(str(path), cols, rows, t, gdal.GetDataTypeByName(dtype))
    ds.SetGeoTransform(geotransform)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    ds.SetProjection(srs.ExportToWkt())
    for i in range(t):
        band = ds.GetRasterBand(i + 1)
        arr = values[i]
        if nodata is not None:
            band.SetNoDataValue(nodata)
            arr = np.where(np.isnan(arr), nodata, arr)
        band.WriteArray(arr)
        if dates is not None:
            band.SetDescription(str(dates[i]))
    ds = None
    return str(path)


def annual_dates(start, n):
    return [f"{start + i}-01-01" for i in range(n)]


def monthly_dates(start, n):
    return [f"{start + i // 12}-{i % 12 + 1:02d}-15" for i in range(n)]


@pytest.fixture
def stack_factory(tmp_path):
    """make(values, dates=..., name=..., nodata=...) -> path of a GeoTIFF stack in tmp_path."""
    def make(values, dates=None, name="stack.tif", **kw):
        if dates is None:
            dates = annual_dates(1989, len(values))
        return write_stack(tmp_path / name, values, dates, **kw)
    return make


@pytest.fixture
def provider(qgis_app, qgis_processing):
    """The registered ecoresp provider (QGIS tests; registered once, kept for the session)."""
    from qgis.core import QgsApplication

    from ecoresp.provider.provider import EcorespProvider

    reg = QgsApplication.processingRegistry()
    prov = reg.providerById("ecoresp")
    if prov is None:
        prov = EcorespProvider()
        assert reg.addProvider(prov)
        _keep.append(prov)
    yield prov
    # layers caught in exception tracebacks form reference cycles; collect them now, while QGIS
    # is alive, not at interpreter exit after QGIS has shut down (that segfaults)
    gc.collect()


@pytest.fixture
def dialog_surface(provider):
    """surface(algorithm id) -> (algorithm, names of its Advanced parameters, tags, help text) as the
    dialog shows them."""
    from qgis.core import QgsApplication

    from ecoresp.algorithms.qgiscompat import FLAG_ADVANCED

    def surface(alg_id):
        alg = QgsApplication.processingRegistry().createAlgorithmById(alg_id)
        advanced = {d.name() for d in alg.parameterDefinitions() if d.flags() & FLAG_ADVANCED}
        return alg, advanced, alg.tags(), alg.shortHelpString()
    return surface


@pytest.fixture
def no_iface(monkeypatch):
    """The Processing dialogs as without a QGIS main window (pytest-qgis's mock iface lacks what
    they ask it for)."""
    import processing.gui.AlgorithmDialog  # noqa: F401 (the modules whose iface is replaced)
    import processing.gui.Postprocessing  # noqa: F401 (3.44 hands iface's layer tree view to C++)
    import processing.modeler.ModelerDialog  # noqa: F401
    for name, module in list(sys.modules.items()):
        if name.startswith("processing.") and getattr(module, "iface", None) is not None:
            monkeypatch.setattr(module, "iface", None)


_keep = []
