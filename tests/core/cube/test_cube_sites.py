"""Batch site partitioning on dask (ecoresp_core.cube.sites, issue 16): the serial path of the QGIS
algorithm ecoresp:partition (partition_site for processed files, raw_to_partitioned for raw ones,
called as algorithms/partition.py calls them), dask's local threads and a two-worker LocalCluster
give the same tables bit for bit, whatever the grouping of the sources and of the u* bootstrap
replicates into tasks."""

import os

import numpy as np
import pandas as pd
import pytest
from conftest import flux_file

from ecoresp_core.cube.scheduler import run_on
from ecoresp_core.cube.sites import partition_files, partition_sites
from ecoresp_core.errors import InputError
from ecoresp_core.io.towers import TowerData, read_tower
from ecoresp_core.jobs.tower import raw_to_partitioned
from ecoresp_core.partitioning.sitepartition import partition_site
from ecoresp_core.ustar.bootstrap import ustar_thresholds

THA, HAI = flux_file("DE-Tha"), flux_file("DE-Hai")
DETHA98, DEGEB, AMF = flux_file("DETha98"), flux_file("DEGeb"), flux_file("AMF")
OPTIONS = {"NT": {"fit_qc_only": True}}  # as ecoresp:partition builds them (FIT_QC_ONLY on)


def exact(a, b, rtol=None):
    if rtol is None:
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    else:
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=rtol, atol=0)


def assert_same_partition(serial, other, rtol=None):
    """Every table of a SitePartition / TowerChain equal bit for bit (or within ``rtol``)."""
    for attr in ("table", "summary", "windows", "evidence", "evidence_tests", "thresholds"):
        a, b = getattr(serial, attr, None), getattr(other, attr, None)
        if a is None:
            assert b is None, attr
            continue
        exact(a, b, rtol)
    assert serial.options == other.options
    assert list(serial.methods) == list(other.methods)


@pytest.fixture(scope="module")
def serial_tha():
    return partition_site(read_tower(THA), ("NT", "DT"), options=OPTIONS, fit_qc_only=True)


def test_processed_files_serial_threads_cluster(serial_tha, dask_cluster):
    """DE-Tha 2011-2012 (FLUXNET2015, two site-years), NT and DT: one task per site-year on
    threads and on two worker processes, the same tables as partition_site of the whole file; the
    batch's site-years are the file's years and its summary the file's with source_file."""
    with run_on(threads=2) as here:
        local = partition_sites([THA], methods="NT,DT", options=OPTIONS, where=here)
    with run_on(dask_cluster) as there:
        remote = partition_sites([THA], methods=["NT", "DT"], options=OPTIONS, where=there)
    for batch in (local, remote):
        assert_same_partition(serial_tha, batch.partitions[THA])
        assert [(s.site_id, s.year) for s in batch.site_years] == [("DE-Tha", 2011), ("DE-Tha", 2012)]
        for sy in batch.site_years:
            exact(sy.table, serial_tha.table[serial_tha.table.index.year == sy.year])
            exact(sy.summary, serial_tha.summary[serial_tha.summary["year"] == sy.year])
        exact(batch.summary.drop(columns="source_file"), serial_tha.summary)
        assert set(batch.summary["source_file"]) == {THA}
    assert np.isfinite(serial_tha.summary["RECO_NT_gC"]).all() and (serial_tha.summary["RECO_NT_gC"] > 100).all()


def test_grouping_of_sources_does_not_matter(serial_tha, dask_cluster):
    """Two files in one batch (four site-year tasks) give each file's tables of its own run."""
    hai = partition_site(read_tower(HAI), ("NT", "DT"), options=OPTIONS)
    with run_on(dask_cluster) as there:
        both = partition_sites([HAI, THA], methods="NT,DT", options=OPTIONS, where=there)
    assert both.sources == [HAI, THA]
    assert_same_partition(hai, both.partitions[HAI])
    assert_same_partition(serial_tha, both.partitions[THA])
    assert [(s.site_id, s.year) for s in both.site_years] == [("DE-Hai", 2007), ("DE-Hai", 2008),
                                                              ("DE-Tha", 2011), ("DE-Tha", 2012)]
    exact(both.summary.drop(columns="source_file"),
          pd.concat([hai.summary, serial_tha.summary], ignore_index=True))


def test_year_where_every_method_fails(dask_cluster):
    """A site-year without NEE: every method fails there.  partition_site of the file gives it NaN,
    QC 9 and the failures in its flags (the other year partitioned); the site-year task gives the
    same (a table given as a TowerData); with no NEE at all both raise the same InputError."""
    tower = read_tower(THA)
    data = tower.data.copy()
    data.loc[data.index.year == 2012, "NEE"] = np.nan
    broken = TowerData(data, tower.site)
    serial = partition_site(broken, ("NT", "DT"), options=OPTIONS)
    assert (serial.table.loc["2012", "QC_NT"] == 9).all() and serial.summary["flags_NT"].iloc[1].startswith("failed")
    with run_on(dask_cluster) as there:
        batch = partition_sites([broken], methods="NT,DT", options=OPTIONS, where=there)
    assert_same_partition(serial, batch.partitions["table 1"])
    data["NEE"] = np.nan
    none = TowerData(data, tower.site)
    with pytest.raises(InputError) as a:
        partition_site(none, ("NT",), options=OPTIONS)
    with run_on(threads=2) as here, pytest.raises(InputError) as b:
        partition_sites([none], methods="NT", options=OPTIONS, where=here)
    assert str(a.value) == str(b.value) and str(a.value).startswith("no method could be fitted")


@pytest.fixture(scope="module")
def serial_tha98():
    tower = read_tower(DETHA98)
    return tower, raw_to_partitioned(tower, ("NT",), ustar_method="mpt", n_boot=5, seed=3, options=OPTIONS,
                                     fit_qc_only=True, workers=None)


def test_raw_chain_serial_threads_cluster(serial_tha98, dask_cluster):
    """REddyProc's Example_DETha98 (raw, one year) through the raw chain (u* moving point test with 5
    bootstrap samples, seed 3; 3 u* scenarios; MDS; NT): the bootstrap replicates in tasks of 2 on
    threads and of 3 on the cluster, the scenarios and site-years as tasks: the TowerChain of
    raw_to_partitioned bit for bit (thresholds, tables, summary, counts)."""
    tower, serial = serial_tha98
    with run_on(threads=2) as here:
        local = partition_sites([DETHA98], methods="NT", options=OPTIONS, raw="mpt", n_boot=5, seed=3,
                                boot_chunk=2, where=here)
    with run_on(dask_cluster) as there:
        remote = partition_sites([DETHA98], methods="NT", options=OPTIONS, raw=True, n_boot=5, seed=3,
                                 boot_chunk=3, where=there)
    exact(serial.thresholds, ustar_thresholds(tower.data, "mpt", n_boot=5, seed=3))
    for batch in (local, remote):
        chain = batch.partitions[DETHA98]
        assert_same_partition(serial, chain)
        assert chain.info == {k: v for k, v in serial.info.items() if k != "seconds"}
        for s in serial.scenarios:
            assert_same_partition(serial.partitions[s], chain.partitions[s])
    summary = serial.summary.iloc[0]
    assert summary["USTAR_TH_05"] <= summary["USTAR_TH_50"] <= summary["USTAR_TH_95"]
    assert summary["RECO_NT_gC_min"] <= summary["RECO_NT_gC"] <= summary["RECO_NT_gC_max"]


def test_raw_chain_errors_as_serial():
    """The raw chain on four days of the synthetic AmeriFlux BASE file: no u* threshold in any year,
    the same InputError as raw_to_partitioned; bad options are refused naming the option."""
    kw = {"latitude": 45.0, "longitude": 10.0}
    with pytest.raises(InputError) as a:
        raw_to_partitioned(read_tower(AMF, **kw), ("NT",), n_boot=3, seed=1, options=OPTIONS)
    with run_on(threads=1) as here, pytest.raises(InputError) as b:
        partition_sites([AMF], methods="NT", options=OPTIONS, raw="mpt", n_boot=3, read_options=kw, where=here)
    assert str(a.value) == str(b.value) and "no u* threshold" in str(a.value)
    with pytest.raises(InputError, match="raw_chain"):
        partition_sites([AMF], raw="xyz")
    with pytest.raises(InputError, match="METHODS: unknown method 'QQ'"):
        partition_sites([AMF], methods="QQ")


def test_partition_files_writes_site_years_and_summary(tmp_path, serial_tha):
    """The command-line entry: one CSV per site-year and the summary CSV, read back equal to the
    serial tables (floats round-trip), no temporary file left; bad options name the option."""
    out = partition_files([THA], tmp_path, methods="NT,DT", evidence=False, where=None)
    names = sorted(os.listdir(tmp_path))
    assert names == ["DE-Tha_2011_partitioned.csv", "DE-Tha_2012_partitioned.csv", "partition_summary.csv"]
    back = pd.read_csv(tmp_path / "DE-Tha_2012_partitioned.csv", float_precision="round_trip")
    ref = serial_tha.table[serial_tha.table.index.year == 2012]
    assert (back["site_id"] == "DE-Tha").all() and len(back) == len(ref) == 17568
    for col in ("NEE", "RECO_NT", "GPP_NT", "RECO_DT", "GPP_DT"):
        np.testing.assert_array_equal(back[col].to_numpy(), ref[col].to_numpy())
    np.testing.assert_array_equal(back["QC_DT"].to_numpy(), ref["QC_DT"].to_numpy())
    assert back["TIMESTAMP_START"].iloc[0] == "2012-01-01 00:00:00"
    summary = pd.read_csv(tmp_path / "partition_summary.csv", float_precision="round_trip")
    np.testing.assert_array_equal(summary["GPP_DT_gC"].to_numpy(), serial_tha.summary["GPP_DT_gC"].to_numpy())
    assert list(summary["year"]) == [2011, 2012] and summary["source_file"].iloc[0] == THA
    assert summary["option_NT"].iloc[0] == str(OPTIONS["NT"]) and "ecoresp_versions" in summary
    assert out["summary"] == str(tmp_path / "partition_summary.csv")
    for kwargs, option in (({"raw_chain": 5}, "raw_chain"), ({"bootstrap": 0}, "bootstrap"),
                           ({"rh_function": "cubic"}, "rh_function"), ({"format": "xls"}, "format")):
        with pytest.raises(InputError, match=f"^{option}:"):
            partition_files([THA], tmp_path, **kwargs)
    with pytest.raises(InputError, match="^input: .*nothere.csv is not a file"):
        partition_files([str(tmp_path / "nothere.csv")], tmp_path)
    with pytest.raises(InputError, match="^output_folder: "):
        partition_files([THA], tmp_path / "missing")
    assert sorted(os.listdir(tmp_path)) == names  # nothing written by the refused runs, no partials


@pytest.mark.slow
def test_default_methods_with_model_evidence(dask_cluster):
    """NT, DT, DTRH with the model evidence (4 replicates, seed 2), as the algorithm's defaults
    build the options: the DT-RH fits and the evidence bootstrap (serial inside the task) the same on
    threads and on two worker processes as partition_site with the desktop's Workers lanes."""
    from ecoresp_core.jobs.parallel import Workers
    opts = {"NT": {"fit_qc_only": True}, "DTRH": {"joint_block_days": 4, "rh_at_night": True, "rh_function": "exp"},
            "evidence": {"n_boot": 4, "seed": 2, "joint": {"block_days": 4, "rh_at_night": True,
                                                            "rh_function": "exp", "fit_qc_only": True}}}
    with Workers() as workers:
        serial = partition_site(read_tower(THA), None, options=opts, fit_qc_only=True, workers=workers)
    assert serial.evidence is not None and "SUPPORTED_MODEL" in serial.summary
    with run_on(threads=2) as here:
        local = partition_sites([THA], options=opts, where=here)
    with run_on(dask_cluster) as there:
        remote = partition_sites([THA], options=opts, where=there)
    # the DT-RH fits run BLAS on one thread (jointfit.single_thread_blas, held by the first of the
    # concurrent fits and released by the last): the same bits on threads as in helper processes
    assert_same_partition(serial, local.partitions[THA])
    assert_same_partition(serial, remote.partitions[THA])


@pytest.mark.slow
def test_raw_chain_three_years_on_cluster(dask_cluster):
    """REddyProc's DE-Geb 2004-2006 (raw, three years: u* seasons across years) through the raw chain
    with NT and DT on the cluster: raw_to_partitioned's TowerChain bit for bit."""
    tower = read_tower(DEGEB)
    serial = raw_to_partitioned(tower, ("NT", "DT"), n_boot=7, seed=3, options=OPTIONS)
    with run_on(dask_cluster) as there:
        batch = partition_sites([DEGEB], methods="NT,DT", options=OPTIONS, raw="mpt", n_boot=7, seed=3,
                                boot_chunk=4, where=there)
    chain = batch.partitions[DEGEB]
    assert_same_partition(serial, chain)
    assert [s.year for s in batch.site_years] == [2004, 2005, 2006]
