"""Isotopic partitioning (science.md section 9): the worked example, the isoflux and exact forms, the
disequilibrium guard, and the alignment of isotope-ER series on the tower's TIMESTAMP_START index."""

import numpy as np
import pandas as pd
import pytest

from ecoresp_core.errors import InputError
from ecoresp_core.partitioning.isotopes import (R_VPDB, align_isotope_series, delta_to_ratio,
                                                isotope_partition, ratio_to_delta)


# ------------------------------------------------------------------------------- partitioning
def test_worked_example_delta_n():
    # NEE = -10, ER = 5, GPP = 15, dR = -26, dA = -27.5 -> dN = -28.25 (section 9)
    dn = (-26.0 * 5 - (-27.5) * 15) / -10.0
    assert dn == pytest.approx(-28.25, abs=1e-12)
    res = isotope_partition(-10.0, delta_n=-28.25, delta_r=-26.0, delta_a=-27.5)
    er, gpp = res
    assert er == pytest.approx(5.0, abs=1e-12) and gpp == pytest.approx(15.0, abs=1e-12)
    assert float(res.disequilibrium) == pytest.approx(1.5)
    assert res.n_small_disequilibrium == 0 and res.flags == []
    # a -0.1 permil error in dR (D = 1.4): GPP 15.357, ER 5.357 (+7 %)
    er, gpp = isotope_partition(-10.0, delta_n=-28.25, delta_r=-26.1, delta_a=-27.5)
    assert gpp == pytest.approx(15.357, abs=5e-4) and er == pytest.approx(5.357, abs=5e-4)
    assert gpp - er == pytest.approx(10.0)                       # NEE = ER - GPP still holds


def test_worked_example_isoflux_and_arrays():
    iso = -28.25 * -10.0
    assert iso == pytest.approx(282.5)
    er, gpp = isotope_partition(-10.0, isoflux=282.5, delta_r=-26.0, delta_a=-27.5)
    assert (er, gpp) == (pytest.approx(5.0), pytest.approx(15.0))
    # arrays with per-record dR, dA; Series in -> Series out
    idx = pd.date_range("2020-07-01", periods=3, freq="30min", name="TIMESTAMP_START")
    nee = pd.Series([-10.0, -10.0, 2.0], index=idx)
    er, gpp = isotope_partition(nee, isoflux=np.array([282.5, 282.5, -52.0]),
                                delta_r=np.array([-26.0, -26.1, -26.0]), delta_a=-27.5)
    assert isinstance(er, pd.Series) and er.index.equals(idx)
    np.testing.assert_allclose(er.to_numpy()[:2], [5.0, 5.357142857142857], rtol=1e-12)
    np.testing.assert_allclose(gpp.to_numpy()[:2], [15.0, 15.357142857142857], rtol=1e-12)
    # night-like record: isoflux = dR * NEE -> GPP = 0, ER = NEE
    assert er.iloc[2] == pytest.approx(2.0) and gpp.iloc[2] == pytest.approx(0.0, abs=1e-12)
    # NEE = 0 is fine in the isoflux form: ER = GPP = isoflux / D
    er0, gpp0 = isotope_partition(0.0, isoflux=-3.0, delta_r=-26.0, delta_a=-27.5)
    assert er0 == pytest.approx(-2.0) and gpp0 == pytest.approx(-2.0)


def test_disequilibrium_guard_counts():
    dr = np.array([-26.0, -27.3, -27.5, -26.0, np.nan])
    res = isotope_partition(np.full(5, -10.0), delta_n=-28.25, delta_r=dr, delta_a=-27.5, min_disequilibrium=0.5)
    er, gpp = res
    np.testing.assert_allclose(er[[0, 3]], 5.0)
    assert np.isnan(er[[1, 2, 4]]).all() and np.isnan(gpp[[1, 2, 4]]).all()
    assert res.n_small_disequilibrium == 2          # |D| = 0.2 and 0
    assert res.n_missing == 1
    assert any("small_disequilibrium:2" in f for f in res.flags)
    # the guard off: D = 0.2 gives a (wild) value, D = 0 still NaN
    res = isotope_partition(np.full(2, -10.0), delta_n=-28.25, delta_r=[-27.3, -27.5], delta_a=-27.5,
                            min_disequilibrium=0)
    assert np.isfinite(res.er[0]) and np.isnan(res.er[1]) and res.n_small_disequilibrium == 1


def test_exact_ratio_form():
    assert delta_to_ratio(0.0) == pytest.approx(R_VPDB)
    assert ratio_to_delta(delta_to_ratio(-26.3)) == pytest.approx(-26.3)
    # build an exact 13C flux from ER = 5, GPP = 15 and recover them exactly
    x = lambda d: delta_to_ratio(d) / (1 + delta_to_ratio(d))  # noqa: E731
    f13 = x(-26.0) * 5.0 - x(-27.5) * 15.0
    xn = f13 / -10.0
    rn = xn / (1 - xn)
    dn_exact = ratio_to_delta(rn)
    er, gpp = isotope_partition(-10.0, delta_n=dn_exact, delta_r=-26.0, delta_a=-27.5, exact=True)
    assert er == pytest.approx(5.0, rel=1e-10) and gpp == pytest.approx(15.0, rel=1e-10)
    # the first-order delta form is close (the worked example differs by ~1e-4)
    er_a, gpp_a = isotope_partition(-10.0, delta_n=dn_exact, delta_r=-26.0, delta_a=-27.5)
    assert abs(er_a - 5.0) < 1e-3 and abs(gpp_a - 15.0) < 1e-3 and er_a != pytest.approx(5.0, rel=1e-10)
    # exact form from an isoflux; NEE = 0 is undefined there and counted
    res = isotope_partition(np.array([-10.0, 0.0]), isoflux=np.array([dn_exact * -10.0, 1.0]), delta_r=-26.0,
                            delta_a=-27.5, exact=True)
    assert res.er[0] == pytest.approx(5.0, rel=1e-10) and np.isnan(res.er[1]) and res.n_nee_zero == 1


def test_partition_input_errors():
    with pytest.raises(InputError, match="exactly one"):
        isotope_partition(-10.0, delta_n=-28.0, isoflux=280.0, delta_r=-26.0, delta_a=-27.5)
    with pytest.raises(InputError, match="exactly one"):
        isotope_partition(-10.0, delta_r=-26.0, delta_a=-27.5)
    with pytest.raises(InputError, match="differ in length"):
        isotope_partition([-10.0, -5.0], delta_n=-28.0, delta_r=[-26.0, -26.0, -26.0], delta_a=-27.5)
    with pytest.raises(InputError, match="differ in length"):
        isotope_partition(pd.Series([-10.0]), delta_n=-28.0, delta_r=[-26.0, -26.1], delta_a=-27.5)
    with pytest.raises(InputError, match="delta_a"):
        isotope_partition(-10.0, delta_n=-28.0, delta_r=-26.0)
    # a scalar NEE with per-record deltas broadcasts
    er, gpp = isotope_partition(-10.0, delta_n=-28.25, delta_r=[-26.0, -26.1], delta_a=-27.5)
    np.testing.assert_allclose(gpp, [15.0, 15.357142857142857])


# ---------------------------------------------------------------------------------- alignment
def _tower_index(start="2016-07-01", periods=96, freq="30min"):
    return pd.date_range(start, periods=periods, freq=freq, name="TIMESTAMP_START")


def test_alignment_end_stamps_and_utc_round_trip():
    tower = _tower_index()
    er = pd.Series(3.0 + np.sin(np.arange(96) / 5.0), index=tower)
    # the published file: END stamps, in UTC; local standard time = UTC - 5 h (e.g. US-Ha1)
    utc_end = tower + pd.Timedelta(minutes=30) + pd.Timedelta(hours=5)
    ref = pd.DataFrame({"TIMESTAMP": utc_end.strftime("%Y-%m-%d %H:%M"), "ER": er.to_numpy()})
    out = align_isotope_series(ref, tower, time_convention="end", utc_offset_h=-5)
    assert out.index.equals(tower)
    np.testing.assert_array_equal(out["ER"].to_numpy(), er.to_numpy())
    assert out.attrs["shift"] == str(pd.Timedelta(hours=-5, minutes=-30))
    # the same data with START stamps in local time: identical result
    ref2 = pd.DataFrame({"timestamp": tower, "ER": er.to_numpy()})
    out2 = align_isotope_series(ref2, tower, time_convention="start")
    np.testing.assert_array_equal(out2["ER"].to_numpy(), er.to_numpy())
    # a wrong convention shifts by one record (the check a user would see)
    out3 = align_isotope_series(ref2, tower, time_convention="end")
    np.testing.assert_array_equal(out3["ER"].to_numpy()[:-1], er.to_numpy()[1:])
    assert np.isnan(out3["ER"].iloc[-1])
    # MIDDLE stamps, given as a Series with a DatetimeIndex
    mid = pd.Series(er.to_numpy(), index=tower + pd.Timedelta(minutes=15), name="ER")
    np.testing.assert_array_equal(align_isotope_series(mid, tower, time_convention="middle")["ER"].to_numpy(),
                                  er.to_numpy())
    # tz-aware stamps are converted to UTC first
    ref4 = pd.DataFrame({"TIMESTAMP": (tower + pd.Timedelta(hours=5)).tz_localize("UTC").tz_convert("Europe/Prague"),
                         "ER": er.to_numpy()})
    out4 = align_isotope_series(ref4, tower, utc_offset_h=-5)
    np.testing.assert_array_equal(out4["ER"].to_numpy(), er.to_numpy())


def test_alignment_averages_finer_and_repeats_coarser(tmp_path):
    tower = _tower_index(periods=48, freq="60min")
    fine_idx = pd.date_range("2016-07-01", periods=48 * 6, freq="10min")
    vals = np.arange(48 * 6, dtype=float)
    vals[7] = np.nan                                     # one gap in hour 1
    path = tmp_path / "iso.csv"
    pd.DataFrame({"TIMESTAMP_END": (fine_idx + pd.Timedelta(minutes=10)).strftime("%Y%m%d%H%M").astype(int),
                  "ER": vals}).to_csv(path, index=False)
    out = align_isotope_series(path, tower, time_convention="end", time_column="TIMESTAMP_END")
    expect = vals.reshape(48, 6).mean(axis=1)
    assert np.isnan(out["ER"].iloc[1])                  # incomplete hour with min_coverage = 1
    np.testing.assert_allclose(out["ER"].to_numpy()[[0, 2, 47]], expect[[0, 2, 47]])
    out = align_isotope_series(path, tower, time_convention="end", time_column="TIMESTAMP_END", min_coverage=0.8)
    assert out["ER"].iloc[1] == pytest.approx(np.nanmean(vals[6:12]))
    # hourly isotope series on a half-hourly tower: repeated, so the hourly mean is unchanged
    hh = _tower_index(periods=96)
    hourly = pd.DataFrame({"ER": np.arange(48.0)}, index=pd.date_range("2016-07-01", periods=48, freq="60min"))
    out = align_isotope_series(hourly, hh)
    np.testing.assert_array_equal(out["ER"].to_numpy(), np.repeat(np.arange(48.0), 2))
    assert "repeated" in out.attrs["aggregation"]


def test_alignment_errors():
    tower = _tower_index()
    ref = pd.DataFrame({"TIMESTAMP": pd.date_range("2015-01-01", periods=10, freq="30min"), "ER": 1.0})
    with pytest.raises(InputError, match="no overlap"):
        align_isotope_series(ref, tower)
    with pytest.raises(InputError, match="'RECO'"):
        align_isotope_series(ref, tower, value_columns="RECO")
    with pytest.raises(InputError, match="no timestamp column"):
        align_isotope_series(pd.DataFrame({"x": [1, 2], "ER": [1.0, 2.0]}), tower)
    bad = pd.DataFrame({"TIMESTAMP": pd.date_range("2016-07-01", periods=10, freq="20min"), "ER": 1.0})
    with pytest.raises(InputError, match="does not divide"):
        align_isotope_series(bad, tower)
    tz = pd.DataFrame({"TIMESTAMP": pd.date_range("2016-07-01", periods=10, freq="30min", tz="UTC"), "ER": 1.0})
    with pytest.raises(InputError, match="utc_offset_h"):
        align_isotope_series(tz, tower)
    dup = pd.DataFrame({"TIMESTAMP": ["2016-07-01 00:00", "2016-07-01 00:00"], "ER": [1.0, 2.0]})
    with pytest.raises(InputError, match="strictly increasing"):
        align_isotope_series(dup, tower)


def test_alignment_column_errors_name_what_chose_the_column(tmp_path):
    """time_what / value_what (a parameter's label in ecoresp:evaluate) lead the errors about their
    column; a reference CSV reads empty, NA, NaN and -9999 as missing, any other text ('n/a') is an
    error, and so are infinite values and a column without a number."""
    tower = _tower_index()
    labels = {"time_what": "Time (T)", "value_what": "Value (V)"}
    path = tmp_path / "iso.csv"
    er = np.full(96, 3.0)
    er[[1, 2, 3]] = [np.nan, -9999.0, np.nan]
    frame = pd.DataFrame({"TIMESTAMP": tower.strftime("%Y-%m-%d %H:%M"), "ER": er})
    frame.to_csv(path, index=False)
    text = path.read_text().replace("\n2016-07-01 01:30,\n", "\n2016-07-01 01:30,NA\n")
    assert ",NA\n" in text and ",-9999.0\n" in text
    path.write_text(text)
    out = align_isotope_series(str(path), tower, **labels)
    assert np.isnan(out["ER"].to_numpy()[1:4]).all() and (out["ER"].to_numpy()[[0, 4, 95]] == 3.0).all()
    with pytest.raises(InputError, match=r"^Time \(T\): .*iso\.csv: timestamp column 'NOPE' not found "
                                         r"\(columns: TIMESTAMP, ER\)"):
        align_isotope_series(str(path), tower, time_column="NOPE", **labels)
    with pytest.raises(InputError, match=r"^Value \(V\): .*iso\.csv: value column\(s\) 'RECO' not found"):
        align_isotope_series(str(path), tower, value_columns="RECO", **labels)
    frame.assign(ER="n/a").to_csv(path, index=False)
    with pytest.raises(InputError, match=r"^Value \(V\): .*column 'ER': 96 value\(s\) are not numbers "
                                         r"\(e\.g\. 'n/a' in row 1\)"):
        align_isotope_series(str(path), tower, **labels)
    frame.assign(ER=np.inf).to_csv(path, index=False)
    with pytest.raises(InputError, match=r"^Value \(V\): .*column 'ER': 96 value\(s\) are infinite"):
        align_isotope_series(str(path), tower, **labels)
    frame.assign(ER=np.nan).to_csv(path, index=False)
    with pytest.raises(InputError, match=r"^Value \(V\): .*column 'ER': holds no number"):
        align_isotope_series(str(path), tower, **labels)
    # without labels the messages start with the file, as before
    with pytest.raises(InputError, match=r"^/.*iso\.csv: column 'ER': holds no number"):
        align_isotope_series(str(path), tower)
