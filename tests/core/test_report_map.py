"""The SVG map of reports: one rectangle per valid cell, colours from the classes or the bins."""

import numpy as np

from ecoresp_core.io.report import DIVERGING, map_svg


def test_categorical_map_cells_and_legend():
    a = np.array([[0, 1, np.nan], [2, 2, 1]], dtype=float)
    svg = map_svg(a, (-9.5, 0.5, 0, 44.0, 0, -0.5), "dominant", classes=[(0, "none", "#cccccc"),
                  (1, "TA", "#d95f02"), (2, "PRE", "#1b9e77")])
    assert svg.count('fill="#d95f02"') == 2 + 1   # two cells + legend
    assert svg.count('fill="#1b9e77"') == 2 + 1
    assert svg.count('fill="#cccccc"') == 1 + 1
    assert "TA (2 cells)" in svg and "none (1 cells)" in svg
    assert ">-9.5<" in svg and ">-8<" in svg and ">44<" in svg and ">43<" in svg  # cell-edge labels


def test_continuous_map_symmetric_bins():
    a = np.array([[-2.0, 0.1, 2.0, np.nan]])
    svg = map_svg(a, (0, 1, 0, 0, 0, -1), "slope", unit="g/yr")
    assert svg.count(f'fill="{DIVERGING[0]}"') == 2     # -2 in the lowest bin (+ legend)
    assert svg.count(f'fill="{DIVERGING[-1]}"') == 2    # +2 in the highest bin (+ legend)
    assert svg.count(f'fill="{DIVERGING[3]}"') == 2     # 0.1 in the middle bin of [-2, 2]
    assert "-2 .. -1.43 g/yr" in svg
