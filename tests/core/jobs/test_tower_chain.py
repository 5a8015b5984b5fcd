"""The raw-to-partitioned chain (ecoresp_core.jobs.tower): a synthetic raw site-year with a known u*
threshold through u* bootstrap, MDS gap filling and partitioning per u* scenario."""

import numpy as np
import pandas as pd
import pytest

from ecoresp_core.errors import Cancelled
from ecoresp_core.io.towers import as_tower
from ecoresp_core.jobs.tower import annual_random_uncertainty, effective_n, raw_to_partitioned
from ecoresp_core.partitioning.synthetic import make_site_year

THRESHOLD = 0.3  # m s-1, built into the data
METHODS = ("NT", "DT")


def raw_site_year(seed=4, threshold=THRESHOLD):
    """A raw synthetic site-year: NEE missing at the generator's gaps (no QC column), u* ~ Gamma(2, 0.2)
    (m s-1) and night-time NEE decoupled below ``threshold`` (NEE x u*/threshold), as
    ``ecoresp_core.ustar.synthetic``."""
    df, truth = make_site_year(seed=seed, gap_night=0.25, gap_day=0.15, outages=1, e0_day=150.0, gamma=0.0,
                                inhibition=0.0)  # plain Lasslop data: NT and DT are the right models
    rng = np.random.default_rng(seed + 100)
    ustar = rng.gamma(2.0, 0.2, len(df))
    night = (df["SW_IN"] < 10).to_numpy()
    nee = df["NEE"].to_numpy().copy()
    nee[night] *= np.minimum(1.0, ustar[night] / threshold)
    nee[df["NEE_QC"].to_numpy() != 0] = np.nan
    ta = df["TA"].to_numpy().copy()
    ta[rng.random(len(df)) < 0.02] = np.nan  # driver gaps, filled by the chain
    raw = df.drop(columns=["NEE_QC"]).assign(NEE=nee, USTAR=ustar, TA=ta)
    tower = as_tower(raw, site_id="XX-Syn", latitude=46.0, longitude=0.0, utc_offset_h=0.0,
                     nee_qc_source="raw file")
    return tower, truth


@pytest.fixture(scope="module")
def chain():
    tower, truth = raw_site_year()
    return tower, truth, raw_to_partitioned(tower, METHODS, n_boot=8, seed=1)


def test_threshold_recovered_and_nee_filled(chain):
    tower, _, res = chain
    row = res.thresholds[res.thresholds["season"] == "annual"].iloc[0]
    assert abs(row["USTAR_TH"] - THRESHOLD) < 0.1
    assert row["USTAR_TH_05"] <= row["USTAR_TH_50"] <= row["USTAR_TH_95"]
    t = res.table
    for s in res.scenarios:
        assert t[f"NEE_{s}_F"].notna().all()
        assert set(np.unique(t[f"NEE_{s}_F_QC"])) <= {0, 1, 2, 3}
        assert t[f"NEE_{s}_RANDUNC"].notna().mean() > 0.99
    # the higher threshold removes more night records
    assert (t["NEE_95_F_QC"] == 0).sum() <= (t["NEE_50_F_QC"] == 0).sum() <= (t["NEE_05_F_QC"] == 0).sum()


def test_no_missing_reco_where_drivers_exist_and_plain_names_are_median(chain):
    tower, truth, res = chain
    t = res.table
    drivers = tower.data[["TA", "SW_IN", "VPD"]].notna().all(axis=1).to_numpy()
    for m in METHODS:
        for s in res.scenarios:
            assert np.isfinite(t[f"RECO_{m}_{s}"].to_numpy()[drivers]).all()
        pd.testing.assert_series_equal(t[f"RECO_{m}"], t[f"RECO_{m}_50"], check_names=False)
        pd.testing.assert_series_equal(t[f"GPP_{m}"], t[f"GPP_{m}_50"], check_names=False)
        pd.testing.assert_series_equal(t[f"QC_{m}"], t[f"QC_{m}_50"], check_names=False)
    np.testing.assert_array_equal(t["NEE"].to_numpy(), t["NEE_50_F"].to_numpy())
    assert np.isfinite(t["TA"]).all()
    # NT close to the truth (annual ER within 15 %)
    step = 1800 * 1e-6 * 12.011
    truth_sum = truth["reco"].sum() * step
    assert abs(res.summary["RECO_NT_50_gC"].iloc[0] - truth_sum) / truth_sum < 0.15


def test_summary_ranges_and_random_uncertainty(chain):
    _, _, res = chain
    row = res.summary.iloc[0]
    for base in ["NEE"] + [f"{f}_{m}" for m in METHODS for f in ("RECO", "GPP")]:
        vals = [row[f"{base}_{s}_gC"] for s in res.scenarios]
        assert row[f"{base}_gC_min"] == pytest.approx(min(vals))
        assert row[f"{base}_gC_max"] == pytest.approx(max(vals))
    assert len({round(row[f"RECO_NT_{s}_gC"], 6) for s in res.scenarios}) > 1  # the scenarios differ
    assert row["RECO_NT_gC"] == pytest.approx(row["RECO_NT_50_gC"])
    assert 0 < row["NEE_50_rand_indep_gC"] <= row["NEE_50_rand_gC"] < 100
    assert row["USTAR_TH_05"] <= row["USTAR_TH_50"] <= row["USTAR_TH_95"]


def test_reproducible_with_seed():
    tower, _ = raw_site_year(seed=5)
    tower = tower.rows(slice("2015-05-01", "2015-08-31"))
    a = raw_to_partitioned(tower, ("NT",), n_boot=4, seed=3)
    b = raw_to_partitioned(tower, ("NT",), n_boot=4, seed=3)
    pd.testing.assert_frame_equal(a.table, b.table)
    pd.testing.assert_frame_equal(a.thresholds, b.thresholds)


def test_cancel():
    tower, _ = raw_site_year(seed=5)
    calls = []

    def cancelled():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Cancelled):
        raw_to_partitioned(tower, ("NT",), n_boot=20, cancelled=cancelled)


def test_random_uncertainty_formula():
    n = 1000
    sd = np.full(n, 2.0)
    qc = np.zeros(n)
    rng = np.random.default_rng(0)
    white = rng.normal(size=n)
    assert effective_n(white) == pytest.approx(n, rel=0.1)
    ar = np.empty(n)
    ar[0] = 0
    for i in range(1, n):
        ar[i] = 0.8 * ar[i - 1] + white[i]
    assert effective_n(ar) < n / 4
    rand, indep, n_eff = annual_random_uncertainty(white, qc, sd, np.zeros(n), 1800.0)
    scale = n * 1800.0 * 1e-6 * 12.011
    assert indep == pytest.approx(2.0 / np.sqrt(n - 1) * scale)
    assert rand == pytest.approx(2.0 / np.sqrt(n_eff - 1) * scale)


def test_change_point_detection_scenarios():
    """ustar_method='cpd' (calendar years, ONEFlux): the thresholds of the scenarios reach the table."""
    tower, _ = raw_site_year()
    res = raw_to_partitioned(tower, ("NT",), ustar_method="cpd", n_boot=5, seed=1)
    annual = res.thresholds[res.thresholds["season"] == "annual"].iloc[0]
    assert abs(annual["USTAR_TH"] - THRESHOLD) < 0.1
    for s in res.scenarios:
        assert res.table[f"USTAR_TH_{s}"].iloc[0] == pytest.approx(annual[f"USTAR_TH_{s}"])
        assert res.table[f"NEE_{s}_F"].notna().all()
