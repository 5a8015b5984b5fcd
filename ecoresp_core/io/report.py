"""Self-contained HTML reports with inline SVG charts (no plotting library needed)."""

import html
import math
import re

import numpy as np

PALETTE = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")

#: advance widths (em) of the printable ASCII characters in DejaVu Sans, the widest of the usual sans-serif
#: fonts, rounded up: charts size their legends and titles by them so that no text is cut at the SVG's edge
_EM = {ch: w for chars, w in (
    ("'ijl", 0.28), ("IJ", 0.30), (" ,.", 0.32), ("/:;\\|", 0.34), ("f", 0.36), ("-", 0.37), ("()[]t", 0.40),
    ("!r", 0.42), ('"', 0.46), ("*_`", 0.50), ("sz?", 0.54), ("cL", 0.56), ("Fk", 0.58), ("vxy", 0.60),
    ("P", 0.61), ("TYaeo", 0.62), ("$0123456789ESbdghnpqu{}", 0.64), ("K", 0.66), ("ABVXZ", 0.69),
    ("CR", 0.70), ("U", 0.74), ("N", 0.75), ("H", 0.76), ("&DG", 0.78), ("OQ", 0.79), ("w", 0.82),
    ("#+<=>^~", 0.84), ("M", 0.87), ("%", 0.96), ("m", 0.98), ("W", 0.99), ("@", 1.0)) for ch in chars}
LEGEND_ROW = 16
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?( ?%)?")
#: line styles of the series beyond the colours of PALETTE
DASHES = ("", "6,3", "2,2")


def text_width(text, font_size=11, bold=False):
    """Width in pixels that ``text`` takes at most in a sans-serif font of ``font_size`` px (DejaVu Sans
    metrics; 1 em for other characters, bold 1.2 times wider)."""
    return sum(_EM.get(ch, 1.0) for ch in str(text)) * font_size * (1.2 if bold else 1.0)


def _layout(labels, width, height, title, pad_l=60, pad_t=30, pad_b=45):
    """Plot box and legend of a chart: the legend right of the plot when it fits there (labels up to
    220 px, as many rows as the plot is tall), else below the plot in as many columns as the width takes.

    Returns (width, height, (pad_l, pad_t, pw, ph), [(x, y) of each legend entry: swatch from x to x + 18,
    text from x + 22, baseline y])."""
    widths = [text_width(str(k)) for k in labels]
    longest = max(widths, default=0.0)
    width = max(width, pad_l + text_width(title, bold=True) + 10)
    ph = height - pad_t - pad_b
    if labels and longest <= 220 and 14 + LEGEND_ROW * len(labels) <= ph:
        pad_r = max(150, int(longest) + 45)
        width = max(width + pad_r - 150, pad_l + 200 + pad_r)
        pw = width - pad_l - pad_r
        return width, height, (pad_l, pad_t, pw, ph), [(pad_l + pw + 10, pad_t + 14 + LEGEND_ROW * i)
                                                       for i in range(len(labels))]
    colw = int(longest) + 40
    width = max(width, colw + 20)
    pw = width - pad_l - 20
    x0 = pad_l if colw <= width - pad_l - 10 else 10
    ncols = max(1, int((width - x0 - 10) // colw))
    nrows = -(-len(labels) // ncols)
    top = height + 6
    height += LEGEND_ROW * nrows + (10 if labels else 0)
    return width, height, (pad_l, pad_t, pw, ph), [(x0 + colw * (i % ncols), top + 12 + LEGEND_ROW * (i // ncols))
                                                   for i in range(len(labels))]


def _ticks(lo, hi, n=5):
    if not np.isfinite(lo) or not np.isfinite(hi):
        return []
    if hi == lo:
        hi = lo + 1.0
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for m in (1, 2, 5, 10):
        if (hi - lo) / (step * m) <= n:
            step *= m
            break
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step) + 1)]


def scatter_chart(series, title, xlabel, ylabel, width=420, height=360, one_to_one=True):
    """SVG scatter plot of ``series`` = {label: (x, y)}, with the 1:1 line."""
    if one_to_one:
        vals = np.concatenate([np.r_[np.asarray(x, float), np.asarray(y, float)] for x, y in series.values()])
        vals = vals[np.isfinite(vals)]
        if vals.size:
            lo, hi = float(vals.min()), float(vals.max())
            series = dict(series)
            series["1:1"] = ([lo, hi], [lo, hi])
    return line_chart(series, title, xlabel, ylabel, width, height, markers=True, lines=("1:1",))


def _frame(width, height, title, ylabel, box, yrange, py):
    """The opening of an SVG chart: title, plot box (pad_l, pad_t, pw, ph), horizontal grid with
    y ticks over ``yrange`` (``py`` maps y to pixels) and the rotated y label."""
    pad_l, pad_t, pw, ph = box
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           f'<text x="{width / 2}" y="16" text-anchor="middle" font-weight="bold">{html.escape(title)}</text>',
           f'<rect x="{pad_l}" y="{pad_t}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>']
    for t in _ticks(*yrange):
        out.append(f'<line x1="{pad_l}" x2="{pad_l + pw}" y1="{py(t):.1f}" y2="{py(t):.1f}" stroke="#eee"/>'
                   f'<text x="{pad_l - 4}" y="{py(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    out.append(f'<text x="14" y="{pad_t + ph / 2}" text-anchor="middle" '
               f'transform="rotate(-90 14 {pad_t + ph / 2})">{html.escape(ylabel)}</text>')
    return out


def line_chart(series, title, xlabel, ylabel, width=560, height=300, markers=False, lines=None):
    """SVG line chart of ``series`` = {label: (x, y)}; NaN breaks a line.  With ``lines`` given,
    only the series named there are drawn as lines (the others as markers only).  The legend goes
    right of the plot, or below it when it has many or long labels (never cut)."""
    xs = np.concatenate([np.asarray(x, float) for x, _ in series.values()]) if series else np.array([0.0])
    ys = np.concatenate([np.asarray(y, float) for _, y in series.values()]) if series else np.array([0.0])
    ok = np.isfinite(xs) & np.isfinite(ys)
    if not ok.any():
        return f"<p><i>{html.escape(title)}: no data</i></p>"
    width, height, box, legend = _layout(list(series), width, height, title)
    pad_l, pad_t, pw, ph = box
    x0, x1 = float(xs[ok].min()), float(xs[ok].max())
    y0, y1 = float(ys[ok].min()), float(ys[ok].max())
    if y0 == y1:
        y0, y1 = y0 - 1, y1 + 1
    margin = 0.05 * (y1 - y0)
    y0, y1 = y0 - margin, y1 + margin
    if x0 == x1:
        x0, x1 = x0 - 1, x1 + 1

    def px(x):
        return pad_l + (x - x0) / (x1 - x0) * pw

    def py(y):
        return pad_t + ph - (y - y0) / (y1 - y0) * ph

    out = _frame(width, height, title, ylabel, box, (y0, y1), py)
    for t in _ticks(x0, x1, 8):
        out.append(f'<text x="{px(t):.1f}" y="{pad_t + ph + 14}" text-anchor="middle">{t:g}</text>')
    out.append(f'<text x="{pad_l + pw / 2}" y="{pad_t + ph + 37}" text-anchor="middle">{html.escape(xlabel)}</text>')
    for i, (label, (x, y)) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        dash = DASHES[i // len(PALETTE) % len(DASHES)]  # more series than colours: dashed, then dotted
        style = f'stroke="{colour}" stroke-width="1.8"' + (f' stroke-dasharray="{dash}"' if dash else "")
        x, y = np.asarray(x, float), np.asarray(y, float)
        seg = []
        draw = lines is None or label in lines
        for a, b in zip(x if draw else [], y if draw else []):
            if np.isfinite(a) and np.isfinite(b):
                seg.append(f"{px(a):.1f},{py(b):.1f}")
            elif seg:
                out.append(f'<polyline fill="none" {style} points="{" ".join(seg)}"/>')
                seg = []
        if seg:
            out.append(f'<polyline fill="none" {style} points="{" ".join(seg)}"/>')
        if markers and (lines is None or label not in lines):
            out += [f'<circle cx="{px(a):.1f}" cy="{py(b):.1f}" r="2" fill="{colour}" fill-opacity="0.6"/>'
                    for a, b in zip(x, y) if np.isfinite(a) and np.isfinite(b)]
        lx, ly = legend[i]
        out.append(f'<line x1="{lx}" x2="{lx + 18}" y1="{ly - 4}" y2="{ly - 4}" {style.replace("1.8", "2.5")}/>'
                   f'<text x="{lx + 22}" y="{ly}">{html.escape(str(label))}</text>')
    out.append("</svg>")
    return "\n".join(out)


def interval_chart(categories, series, title, ylabel, width=560, height=300):
    """SVG chart of estimates with intervals: for each category (x, e.g. a site-year) one point per
    series with a vertical bar from its low to its high end.  ``series`` = {label: (values, lows,
    highs)}, each a sequence as long as ``categories``; NaN leaves a point or bar out."""
    cats = [str(c) for c in categories]
    arrays = {k: tuple(np.asarray(a, float).reshape(-1) for a in v) for k, v in series.items()}
    vals = np.concatenate([np.concatenate(v) for v in arrays.values()]) if arrays else np.array([])
    vals = vals[np.isfinite(vals)]
    if not cats or not vals.size:
        return f"<p><i>{html.escape(title)}: no data</i></p>"
    y0, y1 = float(vals.min()), float(vals.max())
    if y0 == y1:
        y0, y1 = y0 - 1, y1 + 1
    margin = 0.08 * (y1 - y0)
    y0, y1 = y0 - margin, y1 + margin
    width, height, box, legend = _layout(list(series), width, height, title)
    pad_l, pad_t, pw, ph = box
    slot = pw / len(cats)
    k = max(len(arrays), 1)

    def px(i, j):
        return pad_l + slot * (i + (j + 1) / (k + 1))

    def py(y):
        return pad_t + ph - (y - y0) / (y1 - y0) * ph

    out = _frame(width, height, title, ylabel, box, (y0, y1), py)
    for i, c in enumerate(cats):
        out.append(f'<text x="{pad_l + slot * (i + 0.5):.1f}" y="{pad_t + ph + 14}" '
                   f'text-anchor="middle">{html.escape(c)}</text>')
    for j, (label, (v, lo, hi)) in enumerate(arrays.items()):
        colour = PALETTE[j % len(PALETTE)]
        for i in range(min(len(cats), v.size)):
            x = px(i, j)
            if i < lo.size and i < hi.size and np.isfinite(lo[i]) and np.isfinite(hi[i]):
                out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{py(lo[i]):.1f}" y2="{py(hi[i]):.1f}" '
                           f'stroke="{colour}" stroke-width="1.8"/>'
                           f'<line x1="{x - 4:.1f}" x2="{x + 4:.1f}" y1="{py(lo[i]):.1f}" y2="{py(lo[i]):.1f}" '
                           f'stroke="{colour}"/><line x1="{x - 4:.1f}" x2="{x + 4:.1f}" y1="{py(hi[i]):.1f}" '
                           f'y2="{py(hi[i]):.1f}" stroke="{colour}"/>')
            if np.isfinite(v[i]):
                out.append(f'<circle cx="{x:.1f}" cy="{py(v[i]):.1f}" r="3.5" fill="{colour}"/>')
        lx, ly = legend[j]
        out.append(f'<circle cx="{lx + 9}" cy="{ly - 4}" r="3.5" fill="{colour}"/>'
                   f'<text x="{lx + 22}" y="{ly}">{html.escape(str(label))}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _cell(v, float_format):
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        return "" if not np.isfinite(v) else float_format.format(v)
    return "" if v is None else str(v)


def _numeric(text, value):
    """Numbers (and '12.5 %') align right, text left."""
    return isinstance(value, (int, float, np.integer, np.floating)) or bool(_NUMBER.fullmatch(text))


def table_html(df, float_format="{:.4g}", max_rows=200, max_cols=None, keep=1, css_class=None):
    """An HTML table of a pandas DataFrame (first ``max_rows`` rows).  With ``max_cols``, a wider
    table is split into several tables of at most ``max_cols`` columns, each repeating the first
    ``keep`` columns (e.g. the quantity names of a transposed table)."""
    cols = list(df.columns)
    if max_cols and len(cols) > max_cols:
        keep = max(0, min(keep, max_cols - 1))
        step = max_cols - keep
        return "".join(table_html(df[cols[:keep] + cols[i:i + step]], float_format, max_rows, None, keep, css_class)
                       for i in range(keep, len(cols), step))
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = []
    for row in df.head(max_rows).itertuples(index=False):
        cells = [(_cell(v, float_format), v) for v in row]
        body.append("<tr>" + "".join(f"<td>{html.escape(text)}</td>" if _numeric(text, v) else
                                     f'<td class="t">{html.escape(text)}</td>' for text, v in cells) + "</tr>")
    attr = f' class="{html.escape(css_class)}"' if css_class else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def page(title, sections, header=""):
    """A complete HTML page from [(heading, html), ...]; ``header``: HTML right under the title."""
    parts = [f"<h2>{html.escape(h)}</h2>\n{body}" for h, body in sections]
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:1em auto;color:#222}}
table{{border-collapse:collapse;font-size:12px;margin:4px 0 10px 0}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right;vertical-align:top}}
th{{background:#f3f3f3}} td:first-child,th:first-child,td.t{{text-align:left}} svg{{margin:4px}}
details{{margin:4px 0 10px 0}} summary{{cursor:pointer}} pre{{white-space:pre-wrap;overflow-wrap:anywhere}}
table.header td,table.header th{{text-align:left;border:none;padding:1px 10px 1px 0}}
table.header th{{background:none;white-space:nowrap}}</style></head>
<body><h1>{html.escape(title)}</h1>
{header}{''.join(parts)}
</body></html>
"""


DIVERGING = ("#2166ac", "#67a9cf", "#d1e5f0", "#f7f7f7", "#fddbc7", "#ef8a62", "#b2182b")
#: sequential ramps of one-signed data: light to dark away from zero (positive: yellow-orange-red;
#: negative: blues, darkest at the most negative values)
SEQUENTIAL = ("#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#b10026")
SEQUENTIAL_NEGATIVE = ("#084594", "#2171b5", "#4292c6", "#6baed6", "#9ecae1", "#c6dbef", "#eff3ff")


def _num(v):
    """A legend number: 3 significant digits, no exponent below 1e6."""
    return f"{v:.0f}" if 1e3 <= abs(v) < 1e6 else f"{v:.3g}"


def ramp(vmin, vmax):
    """The colour ramp of values over [vmin, vmax]: DIVERGING when they take both signs (vmin < 0 < vmax),
    else SEQUENTIAL (values >= 0) or SEQUENTIAL_NEGATIVE (values <= 0)."""
    if vmin < 0 < vmax:
        return DIVERGING
    return SEQUENTIAL_NEGATIVE if vmax <= 0 and vmin < 0 else SEQUENTIAL


def map_svg(values, geotransform, title, classes=None, vmin=None, vmax=None, unit="", cell_px=None,
            colours=None):
    """SVG map of a 2-D array on a north-up grid (one rectangle per cell; NaN = no fill).

    ``classes``: [(code, name, '#rrggbb'), ...] draws a categorical map with a legend; otherwise the
    values are binned linearly over [vmin, vmax] onto ``colours``.  Defaults follow the sign of the
    data: when they take both signs, [vmin, vmax] is symmetric about 0 and the ramp DIVERGING (white
    at 0); when they are all >= 0 (or all <= 0), [vmin, vmax] is their range and the ramp SEQUENTIAL
    (or SEQUENTIAL_NEGATIVE): :func:`ramp`.  The legend and the title are never cut: the SVG is as wide
    and as tall as they need.  Axis labels are the cell-edge longitudes/latitudes from
    ``geotransform``.  Meant for the small regional grids of reports (a few thousand cells)."""
    a = np.asarray(values, dtype="float64")
    rows, cols = a.shape
    cell = cell_px or max(4, min(24, int(520 / max(rows, cols))))
    pad_l, pad_t, pad_b = 50, 28, 30
    ok = np.isfinite(a)
    if classes is None:
        if vmin is None or vmax is None:
            lo, hi = (float(a[ok].min()), float(a[ok].max())) if ok.any() else (0.0, 1.0)
            if lo < 0 < hi:
                lo, hi = -max(-lo, hi), max(-lo, hi)
            vmin = lo if vmin is None else vmin
            vmax = hi if vmax is None else vmax
        if vmax <= vmin:
            vmax = vmin + 1.0
        colours = tuple(colours) if colours is not None else ramp(vmin, vmax)
        edges = np.linspace(vmin, vmax, len(colours) + 1)
        index = np.clip(np.digitize(a, edges[1:-1]), 0, len(colours) - 1)
        fill = np.where(ok, np.array(colours, dtype=object)[index], None)
        legend = [(colours[i], f"{_num(edges[i])} .. {_num(edges[i + 1])} {unit}".rstrip())
                  for i in range(len(colours))]
    else:
        lookup = {float(code): colour for code, _, colour in classes}
        fill = np.full(a.shape, None, dtype=object)
        for code, colour in lookup.items():
            fill[ok & (a == code)] = colour
        legend = [(colour, f"{name} ({int((ok & (a == float(code))).sum())} cells)") for code, name, colour in classes]
    legend_w = 12 + 16 + int(max((text_width(t) for _, t in legend), default=0)) + 10
    width = int(max(pad_l + cols * cell + legend_w, pad_l + text_width(title, bold=True) + 10))
    height = max(pad_t + rows * cell + pad_b, pad_t + 14 * len(legend) + 10)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           f'font-size="11">', f'<text x="{pad_l}" y="16" font-weight="bold">{html.escape(title)}</text>',
           f'<rect x="{pad_l}" y="{pad_t}" width="{cols * cell}" height="{rows * cell}" fill="#fafafa" stroke="#999"/>']
    for r in range(rows):
        for c in range(cols):
            if fill[r, c] is not None:
                out.append(f'<rect x="{pad_l + c * cell}" y="{pad_t + r * cell}" width="{cell}" height="{cell}" '
                           f'fill="{fill[r, c]}"/>')
    x0, dx, _, y0, _, dy = geotransform
    out.append(f'<text x="{pad_l}" y="{pad_t + rows * cell + 14}">{x0:g}</text>'
               f'<text x="{pad_l + cols * cell}" y="{pad_t + rows * cell + 14}" '
               f'text-anchor="end">{x0 + cols * dx:g}</text>'
               f'<text x="{pad_l - 4}" y="{pad_t + 10}" text-anchor="end">{y0:g}</text>'
               f'<text x="{pad_l - 4}" y="{pad_t + rows * cell}" text-anchor="end">{y0 + rows * dy:g}</text>')
    lx = pad_l + cols * cell + 12
    for i, (colour, text) in enumerate(legend):
        ly = pad_t + 14 * i
        out.append(f'<rect x="{lx}" y="{ly}" width="12" height="10" fill="{colour}" stroke="#999"/>'
                   f'<text x="{lx + 16}" y="{ly + 9}">{html.escape(text)}</text>')
    out.append("</svg>")
    return "\n".join(out)
