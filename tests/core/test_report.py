"""Reports that read themselves: the partition report's header, annual sums, QC shares and fallbacks
on a real FLUXNET2015 site (DE-Hai 2007-2008, NT and DT), tables no wider than MAX_COLUMNS, chart
and map legends never cut, map colour ramps that follow the sign of the data."""

import os
import re
from datetime import datetime, timezone
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from ecoresp_core import __version__
from ecoresp_core.common.units import M_C
from ecoresp_core.io.report import (DIVERGING, SEQUENTIAL, SEQUENTIAL_NEGATIVE, interval_chart, line_chart, map_svg,
                                    table_html)
from ecoresp_core.io.towers import read_tower
from ecoresp_core.partitioning.sitepartition import partition_site, report_html
from ecoresp_core.partitioning.sitereport import MAX_COLUMNS

FLUX = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "flux")
HAI = os.path.join(FLUX, "FLX_DE-Hai_FLUXNET2015_zarrsubset_HH_2007-2008.csv.gz")
CREATED = datetime(2026, 1, 2, 3, 4, tzinfo=timezone.utc)
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def rendered_width(text, size=11):
    """Width of ``text`` in DejaVu Sans (the sans-serif font of most Linux browsers and among the widest),
    measured with Pillow; without them 0.75 em per character (wider than DejaVu's average)."""
    try:
        from PIL import ImageFont
        return ImageFont.truetype(FONT, size).getlength(text)
    except (ImportError, OSError):
        return 0.75 * size * len(text)


class Tables(HTMLParser):
    """Every <table> of a page as (class, [[cell text, ...] per row])."""

    def __init__(self, text):
        super().__init__()
        self.tables, self._cell = [], None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append((dict(attrs).get("class"), []))
        elif tag == "tr" and self.tables:
            self.tables[-1][1].append([])
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][1][-1].append(self._cell.strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def table(page, css_class):
    """The first table of ``css_class`` as a DataFrame indexed by its first column."""
    rows = next(rows for cls, rows in Tables(page).tables if cls == css_class)
    return pd.DataFrame(rows[1:], columns=rows[0]).set_index(rows[0][0])


@pytest.fixture(scope="module")
def hai():
    """DE-Hai 2007-2008 partitioned by NT and DT (about 1 s) and its report."""
    sp = partition_site(read_tower(HAI), "NT,DT")
    return sp, report_html(sp, "ecoresp partitioning: DE-Hai", source=HAI, notes={"Raw input": "no"},
                           created=CREATED)


def test_header_names_input_site_years_methods_options_version_date(hai):
    _, page = hai
    head = page[page.index("<h1>"):page.index("<h2>")]       # the header comes before every section
    rows = {r[0]: r[1] for r in next(rows for cls, rows in Tables(head).tables if cls == "header")}
    assert rows["Input file"] == "FLX_DE-Hai_FLUXNET2015_zarrsubset_HH_2007-2008.csv.gz"
    assert rows["Site"] == "DE-Hai (latitude 51.0792, longitude 10.4522)"
    assert rows["Years"] == "2007, 2008; 35088 records of 30 min"   # 17520 + 17568 (2008 is a leap year)
    assert rows["Methods"] == "NT: night-time (Reichstein et al. 2005); DT: day-time (Lasslop et al. 2010)"
    assert rows["Options"] == "defaults" and rows["Raw input"] == "no"
    assert rows["Software"].startswith(f"ecoresp {__version__} (python ") and "numpy" in rows["Software"]
    assert rows["Created"] == "2026-01-02 03:04 UTC"


def test_annual_sums_are_the_summary_numbers(hai):
    sp, page = hai
    sums = table(page, "annual-sums")
    assert list(sums.columns) == ["2007", "2008"]
    s = sp.summary.set_index("year")
    for flux in ("RECO", "GPP"):
        for code in ("NT", "DT"):
            for year in (2007, 2008):
                assert float(sums.loc[f"{flux} {code}", str(year)]) == pytest.approx(s.loc[year, f"{flux}_{code}_gC"],
                                                                                     abs=0.05)
    # and the summary's numbers are the sums of the half-hourly fluxes: mean x records x 1800 s x 12.011e-6
    t = sp.table
    for year in (2007, 2008):
        reco = t.loc[t.index.year == year, "RECO_NT"].to_numpy()
        assert float(sums.loc["RECO NT", str(year)]) == pytest.approx(reco.mean() * reco.size * 1800 * M_C * 1e-6,
                                                                      abs=0.05)
    assert 900 < float(sums.loc["RECO NT", "2007"]) < 1300 and 1400 < float(sums.loc["GPP DT", "2008"]) < 1900
    # the reference partitioning of the file, summed the same way as the summary's GPP_NT_REF_gC
    ref = sums.loc["GPP NT, reference partitioning in the file"]
    np.testing.assert_allclose(ref.astype(float), s["GPP_NT_REF_gC"].to_numpy(), atol=0.05)


def test_qc_shares_and_fallbacks(hai):
    sp, page = hai
    qc = table(page, "qc-shares")
    s = sp.summary.set_index("year")
    for year in (2007, 2008):
        measured = 100 * s.loc[year, "n_measured"] / s.loc[year, "n_records"]
        assert qc.loc["NEE measured (QC 0)", str(year)] == f"{measured:.1f} %"
        shares = [float(qc.loc[f"RECO/GPP DT: {w}", str(year)].rstrip(" %")) for w in
                  ("good (QC 0)", "refitted or fallback (QC 1)", "nearest fitting window > 14 days (QC 2)",
                   "no value (QC 9)")]
        assert sum(shares) == pytest.approx(100, abs=0.2)
        q = sp.table.loc[sp.table.index.year == year, "QC_DT"]
        assert shares[1] == pytest.approx(100 * (q == 1).mean(), abs=0.05) and shares[1] > 10  # DT refits windows
    # the rejected light-response windows of DT, as many as its flag says, with their reasons
    windows = table(page, "windows")
    for year in (2007, 2008):
        flag = re.search(r"lrc_windows_rejected:(\d+)", s.loc[year, "flags_DT"]).group(1)
        cell = windows.loc["DT light-response windows", str(year)]
        assert cell.startswith(f"{flag} of 182 rejected (") and "too few records" in cell
    warnings = page[page.index("<b>Warnings</b>"):page.index("<h2>Mean diurnal")]
    assert "light-response windows rejected" in warnings and "lrc_windows_rejected:" in warnings


def test_no_table_wider_than_max_columns(hai):
    _, page = hai
    tables = Tables(page).tables
    assert len(tables) >= 6 and all(len(rows[0]) <= MAX_COLUMNS for _, rows in tables)
    summary = table(page, "summary")          # one row per quantity, a column per site-year
    assert list(summary.columns) == ["unit", "2007", "2008"] and summary.loc["E0_NT_K", "unit"] == "K"
    # a wide table is split into tables of at most max_cols columns that repeat the first column
    wide = pd.DataFrame({"quantity": ["a", "b"], **{f"y{i}": [i, -i] for i in range(30)}})
    parts = Tables(table_html(wide, max_cols=12)).tables
    assert [len(rows[0]) for _, rows in parts] == [12, 12, 9]
    assert all(rows[0][0] == "quantity" for _, rows in parts)
    assert sum(len(rows[0]) - 1 for _, rows in parts) == 30


def svg_texts(svg):
    """[(x, text)] of the left-anchored <text> elements of an SVG, and its width and height."""
    width = float(re.search(r'<svg[^>]* width="([\d.]+)"', svg).group(1))
    height = float(re.search(r'<svg[^>]* height="([\d.]+)"', svg).group(1))
    texts = [(float(x), float(y), t) for attrs, t in re.findall(r"<text([^>]*)>([^<]*)</text>", svg)
             if "text-anchor" not in attrs and "rotate" not in attrs
             for x, y in [re.search(r'x="([-\d.]+)" y="([-\d.]+)"', attrs).groups()]]
    return width, height, texts


@pytest.mark.parametrize("n_series", [2, 21])
def test_chart_legends_are_whole(n_series):
    """Wide letters (22 of them) and as many series as 3 years x 7 temperature responses: both were cut."""
    labels = ["WWWWWWWWWWMMMMMMMMMMWW"] + [f"{2004 + i % 3} DTASYM night E0=173 K {i}" for i in range(n_series - 1)]
    x = np.arange(10.0)
    for svg in (line_chart({lab: (x, x * i) for i, lab in enumerate(labels)}, "t", "x", "y"),
                interval_chart(["a", "b"], {lab: ([1.0, 2.0], [0.5, 1.0], [1.5, 3.0]) for lab in labels}, "t", "y")):
        width, height, texts = svg_texts(svg)
        shown = [(x0, y0, t) for x0, y0, t in texts if t in labels]
        assert sorted(t for _, _, t in shown) == sorted(labels)
        for x0, y0, t in shown:
            assert x0 + rendered_width(t) <= width and 0 < y0 <= height
    # many series: the legend goes below the plot, in rows, all inside the figure
    assert n_series == 2 or min(y for _, y, t in shown) > 300 - 45


def test_map_legend_and_title_are_whole():
    a = np.array([[1234.0, 1500.0], [np.nan, 1100.0]])
    svg = map_svg(a, (-9.5, 0.5, 0, 44.0, 0, -0.5), "ER annual sum, first year (g C m-2 yr-1) of a tiny grid",
                  unit="g C m-2 yr-1")
    width, height, texts = svg_texts(svg)
    legend = [(x, y, t) for x, y, t in texts if t.endswith("g C m-2 yr-1") and ".." in t]
    assert len(legend) == len(SEQUENTIAL) and legend[0][2] == "1100 .. 1157 g C m-2 yr-1"
    for x, y, t in legend:
        assert x + rendered_width(t) <= width and y <= height
    title = [(x, t) for x, _, t in texts if t.startswith("ER annual sum")][0]
    assert title[0] + rendered_width(title[1]) * 1.1 <= width          # bold


def fills(svg):
    """Colours of the map's cells, row by row (the legend's and the frame's rectangles have a stroke)."""
    return re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="\d+" height="\d+" fill="(#\w+)"/>', svg)


def test_map_ramp_follows_the_sign_of_the_data():
    gt = (0, 1, 0, 0, 0, -1)
    warming = np.array([[0.1, 0.2, 0.3], [0.45, 0.5, np.nan]])           # all positive: sequential, no blue
    cells = fills(map_svg(warming, gt, "warming", unit="degC per decade"))
    assert set(cells) <= set(SEQUENTIAL) and not set(cells) & set(DIVERGING)
    assert cells[0] == SEQUENTIAL[0] and cells[4] == SEQUENTIAL[-1]      # 0.1 lightest, 0.5 darkest
    drying = -warming                                                    # all negative: darkest most negative
    cells = fills(map_svg(drying, gt, "drying"))
    assert set(cells) <= set(SEQUENTIAL_NEGATIVE) and cells[4] == SEQUENTIAL_NEGATIVE[0]
    mixed = np.array([[-1.0, 0.0, 3.0]])                                 # both signs: diverging, centred on 0
    svg = map_svg(mixed, gt, "slope")
    cells = fills(svg)
    assert set(cells) <= set(DIVERGING)
    assert cells[1] == DIVERGING[3] == "#f7f7f7"                         # 0 in the white middle bin
    assert cells[2] == DIVERGING[-1] and cells[0] == DIVERGING[2]        # [-3, 3]: -1 in the light-blue bin
    assert "-3 .. -2.14" in svg and "2.14 .. 3" in svg and "-0.429 .. 0.429" in svg
