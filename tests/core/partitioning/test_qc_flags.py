"""QC flags that mean something (issue 12): a record without RECO is never QC 0, extrapolated
Rref is QC 2, fall-backs are QC 1, and annual sums state their coverage (docs/methods.md section 16)."""

import dataclasses
import os

import numpy as np
import pytest

from ecoresp_core.io.towers import as_tower, read_tower
from ecoresp_core.partitioning import qc as qcodes
from ecoresp_core.partitioning.daytime import partition_daytime
from ecoresp_core.partitioning.dtrh import partition_dtrh
from ecoresp_core.partitioning.sitepartition import MIN_SUM_COVERAGE, annual_sum_gc, partition_site
from ecoresp_core.partitioning.synthetic import make_site_year

FLUX = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "data", "flux")
RPD = 48


def _far(qc_positions, n, days=14):
    """True where the nearest of the record numbers ``qc_positions`` is more than ``days`` away."""
    return qcodes.distance_to_nearest(qc_positions, n) > days * RPD


def _no_measured_night_nee():
    """A synthetic site-year without measured night NEE from May to July; (table, gap mask)."""
    df, _ = make_site_year(seed=1, outages=0)
    gap = (df.index >= "2015-05-01") & (df.index < "2015-08-01")
    df.loc[gap & (df["SW_IN_POT"] <= 0), "NEE_QC"] = 1
    return df, gap


def test_distance_to_nearest():
    d = qcodes.distance_to_nearest([2, 10], 14)
    assert d.tolist() == [2, 1, 0, 1, 2, 3, 4, 3, 2, 1, 0, 1, 2, 3]
    assert np.isinf(qcodes.distance_to_nearest([], 3)).all()


def test_ta_gap_gives_qc9_and_a_stated_coverage():
    """Case 1: a 3-day gap in TA (DE-Tha 2011) left RECO_NT blank with QC_NT 0 and the annual sum
    filled the gap with the yearly mean without a word."""
    t = read_tower(os.path.join(FLUX, "FLX_DE-Tha_FLUXNET2015_zarrsubset_HH_2011-2012.csv.gz"))
    data = t.data.loc["2011"].copy()
    gap = (data.index >= "2011-07-10") & (data.index < "2011-07-13")
    data.loc[gap, "TA"] = np.nan
    tower = dataclasses.replace(t, data=data)
    sp = partition_site(tower, "NT")
    tab = sp.table
    blank = tab["RECO_NT"].isna()
    assert blank.sum() == gap.sum() == 3 * RPD
    assert (tab.loc[blank, "QC_NT"] == qcodes.NO_VALUE).all()      # before: 0
    assert (tab.loc[~blank, "QC_NT"] != qcodes.NO_VALUE).all()
    row = sp.summary.iloc[0]
    assert row["RECO_NT_coverage"] == pytest.approx(1 - 3 / 365)
    assert row["RECO_NT_coverage"] >= MIN_SUM_COVERAGE and np.isfinite(row["RECO_NT_gC"])
    assert "RECO_NT missing on 144 records (3.0 days" in row["flags_NT"]       # before: no word of it
    assert "counted at the site-year mean" in row["flags_NT"]
    # a longer gap: no annual sum rather than one made of the yearly mean
    v = np.ones(17520)
    v[:int(17520 * (1 - MIN_SUM_COVERAGE)) + 1] = np.nan
    assert np.isnan(annual_sum_gc(v, 1800.0))


def test_ta_gap_qc9_every_method():
    """Case 1 for DT and DT-RH too (their QC came from the window fits only)."""
    df, _ = make_site_year(seed=3, outages=0)
    df.loc["2015-08-01":"2015-08-03", "TA"] = np.nan
    sp = partition_site(df, "NT,DT,DTRH")
    for m in ("NT", "DT", "DTRH"):
        blank = sp.table[f"RECO_{m}"].isna()
        assert blank.any()
        assert ((sp.table[f"QC_{m}"] == 9) == blank).all(), m


def test_nt_extrapolated_rref_gets_qc2():
    """Case 2: three months without measured night NEE; QC_NT was 0 everywhere (US-Tw3 2013)."""
    df, gap = _no_measured_night_nee()
    sp = partition_site(df, "NT")
    qc = sp.table["QC_NT"].to_numpy()
    res = sp.results[(2015, "NT")].native
    assert not any("retried" in f for f in res.flags)           # no E0 fall-back: only 0 and 2
    pos = res.rref_windows.dropna(subset=["rref"])["index_pos"].to_numpy()
    far = _far(pos, len(df))
    assert far.sum() > 50 * RPD                                   # ~60 days beyond 14 days of a window
    assert (qc[far] == qcodes.EXTRAPOLATED).all() and (qc[~far] == qcodes.GOOD).all()
    assert far[gap].mean() > 0.6 and not far[~gap].any()
    assert "records_far_from_rref_window" in sp.summary["flags_NT"].iloc[0]


def test_nt_e0_fallback_gives_qc1():
    """NT's E0 from the relaxed temperature range is a fall-back for the site-year: QC 1."""
    df, _ = make_site_year(seed=2, outages=0)
    sp = partition_site(df, "NT", options={"NT": {"min_temp_range": 1000.0}})  # forces the 3 K retry
    assert "retried" in sp.summary["flags_NT"].iloc[0]
    assert set(np.unique(sp.table["QC_NT"])) <= {1, 2} and (sp.table["QC_NT"] == 1).mean() > 0.9


def test_dtrh_fallback_to_dt_gives_qc1():
    """Case 3: DT-RH falling back to plain DT for the whole year kept QC 0."""
    df, _ = make_site_year(seed=4, outages=0)
    r = partition_dtrh(df, n_best=1000, stage_b="windows")          # stage B cannot find 1000 windows
    assert any("fallback_plain_DT" in f for f in r.flags)
    assert (r.qc >= qcodes.FALLBACK).all() and (r.qc == qcodes.FALLBACK).mean() > 0.9
    sp = partition_site(df, "DTRH", options={"DTRH": {"n_best": 1000, "stage_b": "windows"}})
    assert (sp.table["QC_DTRH"] >= 1).all() and (sp.table["QC_DTRH"] == 1).mean() > 0.9
    assert "fallback_plain_DT" in sp.summary["flags_DTRH"].iloc[0]


def test_dtrh_night_records_far_from_night_data_get_qc2():
    """DT-RH night records take Rref_n from night data: QC 2 without a fitted night record within
    14 days, even where the day-time windows are fine."""
    df, gap = _no_measured_night_nee()
    r = partition_dtrh(df)
    is_night = ~(df["SW_IN"] > 4).to_numpy()
    qc = r.qc.to_numpy()
    mid = (df.index >= "2015-06-01") & (df.index < "2015-07-01")
    assert (qc[mid & is_night] == qcodes.EXTRAPOLATED).all()
    assert (qc[mid & ~is_night] != qcodes.EXTRAPOLATED).all()


def test_dt_refit_qc1_and_long_gap_qc2():
    """Case 4: DT's FP_qc (REddyProc): 1 where the nearest window was refitted by a fall-back rule,
    2 where the nearest window is more than 14 days away."""
    df, _ = make_site_year(seed=5, outages=0, long_gap=(150, 45))
    res = partition_daytime(as_tower(df), alpha_max=0.03)      # alpha > 0.03: refitted, alpha fixed
    qc = res.qc.to_numpy()
    w = res.windows
    assert w["refit"].any() and (qc == qcodes.FALLBACK).any()
    loc = w["loc"].dropna()
    pos = df.index.get_indexer(loc)
    far = _far(pos, len(df))
    assert far.sum() > 10 * RPD
    assert (qc[far] == qcodes.EXTRAPOLATED).all() and (qc[~far] != qcodes.EXTRAPOLATED).all()
    refit_at = set(df.index.get_indexer(w.loc[w["refit"].astype(bool), "loc"].dropna()))
    assert (qc[sorted(refit_at)] != qcodes.GOOD).all()


def test_ml_far_from_training_records_gets_qc2():
    """RF/NN: QC 2 where the nearest training record (measured night NEE) is > 14 days away."""
    df, gap = _no_measured_night_nee()
    sp = partition_site(df, "RF", options={"ML": {"n_estimators": 20, "cv": "none"}})
    qc = sp.table["QC_RF"].to_numpy()
    mid = (df.index >= "2015-06-01") & (df.index < "2015-07-01")
    assert (qc[mid] == qcodes.EXTRAPOLATED).all()
    assert (qc[~gap] == qcodes.GOOD).all()
