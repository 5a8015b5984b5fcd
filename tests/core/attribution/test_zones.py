"""Zone summaries of a dominant-driver map: exact area shares on a small grid."""

import numpy as np
import pytest

from ecoresp_core.common.geometry import cell_areas
from ecoresp_core.attribution import zones as zn
from ecoresp_core.attribution.partialcorr import NODATA, NONE
from ecoresp_core.errors import InputError

R = 6371007.181
GT = (10.0, 0.5, 0.0, 45.5, 0.0, -0.5)  # rows: 45-45.5 N, 44.5-45 N, 44-44.5 N


def _band(north):
    return R ** 2 * np.deg2rad(0.5) * (np.sin(np.deg2rad(north)) - np.sin(np.deg2rad(north - 0.5)))


def test_cell_areas_match_science_table():
    a = cell_areas(GT, 3, 2)
    assert a[0, 0] == pytest.approx(2.176162e9, rel=1e-6)   # science.md 13: 45-45.5 N
    np.testing.assert_allclose(a[:, 1], [_band(45.5), _band(45.0), _band(44.5)], rtol=1e-12)
    assert cell_areas((0, 100.0, 0, 0, 0, -50.0), 2, 2, geographic=False)[1, 1] == 5000.0


def test_area_shares_exact_by_hand():
    names = ["TA", "P", "SM"]
    dom = np.array([[1, 2],
                    [NONE, 3],
                    [1, NODATA]], dtype="uint8")
    mat = np.array([[1.0, 1.5],        # boreal, boreal
                    [2.0, 10.0],       # temperate (2 inclusive), temperate
                    [20.0, 30.0]])     # tropical, tropical (nodata pixel)
    codes, names_z = zn.zones_from_values(mat, "mat")
    areas = cell_areas(GT, 3, 2)
    rows = zn.zone_summary(dom, names, areas, codes, names_z)
    get = {(r["zone_name"], r["kind"], r["name"]): r for r in rows}
    a0, a1, a2 = _band(45.5), _band(45.0), _band(44.5)
    # all: 5 pixels with a result
    tot = 2 * a0 + 2 * a1 + a2
    assert get[("all", "driver", "TA")]["share_of_zone"] == pytest.approx((a0 + a2) / tot, rel=1e-12)
    assert get[("all", "driver", "none")]["share_of_zone"] == pytest.approx(a1 / tot, rel=1e-12)
    assert np.isnan(get[("all", "driver", "none")]["share_of_attributed"])
    att = 2 * a0 + a1 + a2
    assert get[("all", "group", "water")]["share_of_attributed"] == pytest.approx((a0 + a1) / att, rel=1e-12)
    assert get[("all", "group", "thermal")]["share_of_attributed"] == pytest.approx((a0 + a2) / att, rel=1e-12)
    assert get[("all", "group", "other")]["area_km2"] == 0.0
    # boreal: TA and P, half each (same row, same area)
    assert get[("boreal", "driver", "TA")]["share_of_zone"] == pytest.approx(0.5, rel=1e-12)
    assert get[("boreal", "group", "water")]["area_km2"] == pytest.approx(a0 * 1e-6, rel=1e-12)
    # temperate: none and SM
    assert get[("temperate", "driver", "SM")]["share_of_zone"] == pytest.approx(0.5)
    assert get[("temperate", "driver", "SM")]["share_of_attributed"] == pytest.approx(1.0)
    # tropical: the nodata pixel is left out
    assert get[("tropical", "driver", "TA")]["share_of_zone"] == pytest.approx(1.0)
    assert get[("tropical", "driver", "TA")]["n_pixels"] == 1


def test_categorical_zones_and_no_zones():
    dom = np.array([[1, 2], [2, 2]], dtype="uint8")
    areas = np.ones((2, 2))
    codes, nm = zn.zones_from_values(np.array([[5, 5], [7, np.nan]]), "categorical")
    rows = zn.zone_summary(dom, ["tmp", "pre"], areas, codes, nm)
    get = {(r["zone_name"], r["name"]): r for r in rows if r["kind"] == "driver"}
    assert get[("5", "tmp")]["share_of_zone"] == 0.5 and get[("7", "pre")]["share_of_zone"] == 1.0
    assert get[("all", "pre")]["share_of_zone"] == 0.75
    assert {r["zone"] for r in zn.zone_summary(dom, ["tmp", "pre"], areas)} == {0}


def test_groups_by_name_and_override():
    assert zn.default_group("pre") == "water" and zn.default_group("swvl1") == "water"
    assert zn.default_group("VPD") == "water" and zn.default_group("SPEI_12") == "water"
    assert zn.default_group("tmx") == "thermal" and zn.default_group("frs") == "thermal"
    assert zn.default_group("ssrd") == "other" and zn.default_group("cld") == "other"
    assert zn.driver_groups(["TA", "rad"], zn.parse_groups("rad=thermal")) == {"TA": "thermal", "rad": "thermal"}


def test_errors():
    with pytest.raises(InputError, match="not name=group"):
        zn.parse_groups("TA thermal")
    with pytest.raises(InputError, match=r"^Groups \(GROUPS\): driver TA: unknown group 'hot'"):
        zn.parse_groups("TA=hot", "Groups (GROUPS)")
    with pytest.raises(InputError, match=r"^Groups \(GROUPS\): group given for unknown driver\(s\) SM; drivers are TA"):
        zn.driver_groups(["TA"], {"SM": "water"}, "Groups (GROUPS)")
    with pytest.raises(InputError, match=r"^driver groups: group given for unknown driver"):
        zn.driver_groups(["TA"], {"SM": "water"})
    for zone_type in ("mat", "categorical"):
        with pytest.raises(InputError, match="^zones raster z.tif has no value: every cell is nodata"):
            zn.zones_from_values(np.full((2, 2), np.nan), zone_type, "zones raster z.tif")
    with pytest.raises(InputError, match="outside"):
        zn.zone_summary(np.array([[4]], "uint8"), ["a", "b"], np.ones((1, 1)))
    with pytest.raises(InputError, match="non-integer"):
        zn.zones_from_values(np.array([[1.5]]), "categorical")
