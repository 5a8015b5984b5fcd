"""The partition-method registry: a method defined outside the package and registered here only
(toymethod.py: ER = mean of the measured night-time NEE) runs through partition_site like the built-in
ones, dependencies
are resolved, and the option objects and FIT_QC_ONLY reach every method."""

import numpy as np
import pytest

from ecoresp_core.errors import InputError
from ecoresp_core.partitioning import methods as registry
from ecoresp_core.partitioning.daytime import DaytimeOptions
from ecoresp_core.partitioning.dtrh import DtrhOptions
from ecoresp_core.partitioning.methods import MethodResult, PartitionMethod
from ecoresp_core.partitioning.nighttime import NighttimeOptions
from ecoresp_core.partitioning.sitepartition import (method_codes, method_labels, parse_methods,
                                                     partition_site)
from ecoresp_core.partitioning.synthetic import make_site_year
from toymethod import night_mean_method


NightMean = night_mean_method(registry)


class NtScaled(PartitionMethod):
    """Toy method that needs NT: RECO = 1.1 x RECO_NT."""
    code = "NTSCALED"
    label = "1.1 x NT (toy)"
    requires = ("NT",)

    def run(self, site_year, context):
        nt = context.result("NT")
        if nt is None:
            raise InputError("NTSCALED needs NT")
        reco = 1.1 * nt.reco
        return MethodResult(reco=reco, gpp=reco - site_year.data["NEE"], parameters={"E0_FROM_NT": nt.native.e0})


@pytest.fixture
def toys():
    registry.register(NightMean)
    registry.register(NtScaled())
    yield
    registry.unregister("NIGHTMEAN")
    registry.unregister("NTSCALED")


@pytest.fixture(scope="module")
def site_year():
    df, truth = make_site_year(seed=4)
    return df


def test_builtin_registry():
    assert method_codes() == ("NT", "DT", "DTRH", "DTASYM", "DTRHONLY", "RF", "NN")
    assert parse_methods(None) == ("NT", "DT", "DTRH")
    assert method_labels()["NT"] == "night-time (Reichstein et al. 2005)"
    assert registry.run_order(("DT", "DTRH")) == ["NT", "DT", "DTRH"]
    assert registry.run_order(("DTRH", "NT")) == ["NT", "DTRH"]
    assert registry.run_order(("RF", "DTASYM", "DTRHONLY")) == ["NT", "RF", "DTASYM", "DTRHONLY"]
    with pytest.raises(InputError, match="unknown method 'nightmean'"):
        parse_methods("NT,nightmean")


def test_toy_method_runs_through_partition_site(toys, site_year):
    assert "NIGHTMEAN" in method_codes() and parse_methods("nt, night_mean") == ("NT", "NIGHTMEAN")
    sp = partition_site(site_year, "NT,NIGHTMEAN")
    night = (site_year["SW_IN_POT"] <= 0) & (site_year["NEE_QC"] == 0) & site_year["NEE"].notna()
    er = site_year.loc[night, "NEE"].mean()
    t = sp.table
    assert {"RECO_NIGHTMEAN", "GPP_NIGHTMEAN", "QC_NIGHTMEAN"} <= set(t.columns)
    assert (t["RECO_NIGHTMEAN"] == er).all() and (t["QC_NIGHTMEAN"] == 0).all()
    np.testing.assert_allclose(t["GPP_NIGHTMEAN"], er - site_year["NEE"])
    s = sp.summary.iloc[0]
    assert s["ER_NIGHTMEAN"] == er and s["RECO_NIGHTMEAN_gC"] > 0 and "night records" in s["flags_NIGHTMEAN"]
    assert np.isfinite(s["RECO_NIGHTMEAN_day_mean"]) and np.isfinite(s["E0_NT_K"])
    w = sp.windows[sp.windows["method"] == "NIGHTMEAN"]
    assert len(w) == 1 and w["stage"].iloc[0] == "whole year" and w["RREF_NIGHT"].iloc[0] == er
    assert np.isfinite(w["TA_DAY_MEAN"].iloc[0]) and np.isnan(w["E0_K"].iloc[0])
    # with FIT_QC_ONLY off the toy sees gap-filled night NEE too
    sp2 = partition_site(site_year, "NIGHTMEAN", fit_qc_only=False)
    night2 = (site_year["SW_IN_POT"] <= 0) & site_year["NEE"].notna()
    assert sp2.summary["ER_NIGHTMEAN"].iloc[0] == site_year.loc[night2, "NEE"].mean()
    assert sp2.methods == ("NIGHTMEAN",)


def test_required_method_runs_first_and_stays_out_of_the_outputs(toys, site_year):
    sp = partition_site(site_year, "NTSCALED", options={"kok": False})
    assert [c for c in sp.table.columns if c.startswith("RECO_")] == ["RECO_NTSCALED"]
    nt = sp.results[(2015, "NT")]
    np.testing.assert_allclose(sp.table["RECO_NTSCALED"], 1.1 * nt.reco)
    assert sp.summary["E0_FROM_NT"].iloc[0] == nt.native.e0 and "E0_NT_K" not in sp.summary


def test_requirement_cycle_is_refused():
    class A(PartitionMethod):
        code, label, requires = "CYCA", "a", ("CYCB",)

    class B(PartitionMethod):
        code, label, requires = "CYCB", "b", ("CYCA",)

    registry.register(A)
    registry.register(B)
    try:
        with pytest.raises(InputError, match="requirement cycle"):
            registry.run_order(("CYCA",))
    finally:
        registry.unregister("CYCA")
        registry.unregister("CYCB")
    with pytest.raises(InputError, match="upper-case letters and digits"):
        registry.register(type("Bad", (PartitionMethod,), {"code": "bad-code", "label": "x"}))


def test_fit_qc_only_reaches_every_method(monkeypatch, site_year):
    """partition_site(fit_qc_only=False) (the FIT_QC_ONLY switch) is passed to every fitting method."""
    from ecoresp_core.partitioning.methods import daytime as m_dt, dtrh as m_dtrh, ml as m_ml, nighttime as m_nt
    seen = {}

    def spy(name):
        def fake(df, **kw):
            seen[name] = kw.get("fit_qc_only")
            raise InputError(f"{name} stopped by the test")
        return fake

    monkeypatch.setattr(m_nt.nighttime, "partition_nighttime", spy("NT"))
    monkeypatch.setattr(m_dt.daytime, "partition_daytime", spy("DT"))
    monkeypatch.setattr(m_dtrh.dtrh, "partition_dtrh", spy("DTRH"))
    monkeypatch.setattr(m_ml.mldaytime, "fit_ml_daytime_er", spy("RF"))
    for flag in (False, True):
        with pytest.raises(InputError, match="no method could be fitted"):
            partition_site(site_year, "NT,DT,DTRH,RF", fit_qc_only=flag)
        assert seen == {"NT": flag, "DT": flag, "DTRH": flag, "RF": flag}
    # a method's own option wins
    with pytest.raises(InputError):
        partition_site(site_year, "NT", options={"NT": {"fit_qc_only": True}}, fit_qc_only=False)
    assert seen["NT"] is True


def test_option_presets():
    assert DaytimeOptions() == DaytimeOptions.oneflux()
    r = DaytimeOptions.reddyproc()
    assert (r.day_night_rule, r.sd_nee, r.sd_floor_quantile, r.window_location) == ("reddyproc", "replace", 0.3, "mean")
    assert DaytimeOptions.reddyproc(lrc_rtol=1e-9).lrc_rtol == 1e-9
    assert DtrhOptions.reddyproc().lrc_rtol == 1e-9 and DtrhOptions().stage_b_window_days == 15
    assert NighttimeOptions.reddyproc() == NighttimeOptions() and NighttimeOptions().e0_bounds == (30.0, 450.0)
    with pytest.raises(InputError, match="day_night_rule must be"):
        DaytimeOptions(day_night_rule="pvwave")
    with pytest.raises(InputError, match="stage_b_rank must be"):
        DtrhOptions(stage_b_rank="best")
    with pytest.raises(Exception):
        DaytimeOptions().tref_degc = 20.0   # frozen
