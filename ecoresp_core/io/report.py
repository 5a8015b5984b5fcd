"""Self-contained HTML reports with inline SVG charts (no plotting library needed)."""

import html
import math

import numpy as np

PALETTE = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")


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
    only the series named there are drawn as lines (the others as markers only)."""
    longest = max((len(str(k)) for k in series), default=0)
    pad_l, pad_r, pad_t, pad_b = 60, max(150, 7 * longest + 45), 30, 45
    width += pad_r - 150  # the legend widens the figure, not the plot
    xs = np.concatenate([np.asarray(x, float) for x, _ in series.values()]) if series else np.array([0.0])
    ys = np.concatenate([np.asarray(y, float) for _, y in series.values()]) if series else np.array([0.0])
    ok = np.isfinite(xs) & np.isfinite(ys)
    if not ok.any():
        return f"<p><i>{html.escape(title)}: no data</i></p>"
    x0, x1 = float(xs[ok].min()), float(xs[ok].max())
    y0, y1 = float(ys[ok].min()), float(ys[ok].max())
    if y0 == y1:
        y0, y1 = y0 - 1, y1 + 1
    margin = 0.05 * (y1 - y0)
    y0, y1 = y0 - margin, y1 + margin
    if x0 == x1:
        x0, x1 = x0 - 1, x1 + 1
    pw, ph = width - pad_l - pad_r, height - pad_t - pad_b

    def px(x):
        return pad_l + (x - x0) / (x1 - x0) * pw

    def py(y):
        return pad_t + ph - (y - y0) / (y1 - y0) * ph

    out = _frame(width, height, title, ylabel, (pad_l, pad_t, pw, ph), (y0, y1), py)
    for t in _ticks(x0, x1, 8):
        out.append(f'<text x="{px(t):.1f}" y="{pad_t + ph + 14}" text-anchor="middle">{t:g}</text>')
    out.append(f'<text x="{pad_l + pw / 2}" y="{height - 8}" text-anchor="middle">{html.escape(xlabel)}</text>')
    for i, (label, (x, y)) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        x, y = np.asarray(x, float), np.asarray(y, float)
        seg = []
        draw = lines is None or label in lines
        for a, b in zip(x if draw else [], y if draw else []):
            if np.isfinite(a) and np.isfinite(b):
                seg.append(f"{px(a):.1f},{py(b):.1f}")
            elif seg:
                out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{" ".join(seg)}"/>')
                seg = []
        if seg:
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{" ".join(seg)}"/>')
        if markers and (lines is None or label not in lines):
            out += [f'<circle cx="{px(a):.1f}" cy="{py(b):.1f}" r="2" fill="{colour}" fill-opacity="0.6"/>'
                    for a, b in zip(x, y) if np.isfinite(a) and np.isfinite(b)]
        ly = pad_t + 14 + 16 * i
        out.append(f'<line x1="{pad_l + pw + 10}" x2="{pad_l + pw + 28}" y1="{ly - 4}" y2="{ly - 4}" '
                   f'stroke="{colour}" stroke-width="2.5"/><text x="{pad_l + pw + 32}" y="{ly}">'
                   f'{html.escape(str(label))}</text>')
    out.append("</svg>")
    return "\n".join(out)


def interval_chart(categories, series, title, ylabel, width=560, height=300):
    """SVG chart of estimates with intervals: for each category (x, e.g. a site-year) one point per
    series with a vertical bar from its low to its high end.  ``series`` = {label: (values, lows,
    highs)}, each a sequence as long as ``categories``; NaN leaves a point or bar out."""
    cats = [str(c) for c in categories]
    longest = max((len(str(k)) for k in series), default=0)
    pad_l, pad_r, pad_t, pad_b = 60, max(150, 7 * longest + 45), 30, 45
    width += pad_r - 150
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
    pw, ph = width - pad_l - pad_r, height - pad_t - pad_b
    slot = pw / len(cats)
    k = max(len(arrays), 1)

    def px(i, j):
        return pad_l + slot * (i + (j + 1) / (k + 1))

    def py(y):
        return pad_t + ph - (y - y0) / (y1 - y0) * ph

    out = _frame(width, height, title, ylabel, (pad_l, pad_t, pw, ph), (y0, y1), py)
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
        ly = pad_t + 14 + 16 * j
        out.append(f'<circle cx="{pad_l + pw + 19}" cy="{ly - 4}" r="3.5" fill="{colour}"/>'
                   f'<text x="{pad_l + pw + 32}" y="{ly}">{html.escape(str(label))}</text>')
    out.append("</svg>")
    return "\n".join(out)


def table_html(df, float_format="{:.4g}", max_rows=200):
    """An HTML table of a pandas DataFrame (first ``max_rows`` rows)."""
    cols = list(df.columns)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = []
    for _, row in df.head(max_rows).iterrows():
        cells = []
        for c in cols:
            v = row[c]
            if isinstance(v, (float, np.floating)):
                text = "" if not np.isfinite(v) else float_format.format(v)
            else:
                text = "" if v is None else str(v)
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def page(title, sections):
    """A complete HTML page from [(heading, html), ...]."""
    parts = [f"<h2>{html.escape(h)}</h2>\n{body}" for h, body in sections]
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:1em auto;color:#222}}
table{{border-collapse:collapse;font-size:12px}}td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}
th{{background:#f3f3f3}} svg{{margin:4px}}</style></head>
<body><h1>{html.escape(title)}</h1>
{''.join(parts)}
</body></html>
"""


DIVERGING = ("#2166ac", "#67a9cf", "#d1e5f0", "#f7f7f7", "#fddbc7", "#ef8a62", "#b2182b")


def map_svg(values, geotransform, title, classes=None, vmin=None, vmax=None, unit="", cell_px=None,
            colours=DIVERGING):
    """SVG map of a 2-D array on a north-up grid (one rectangle per cell; NaN = no fill).

    ``classes``: [(code, name, '#rrggbb'), ...] draws a categorical map with a legend; otherwise the
    values are binned linearly over [vmin, vmax] (default: symmetric about 0 when the data change
    sign, else their range) onto ``colours``.  Axis labels are the cell-edge longitudes/latitudes
    from ``geotransform``.  Meant for the small regional grids of reports (a few thousand cells)."""
    a = np.asarray(values, dtype="float64")
    rows, cols = a.shape
    cell = cell_px or max(4, min(24, int(520 / max(rows, cols))))
    pad_l, pad_t, pad_b, legend_w = 50, 28, 30, 190
    width, height = pad_l + cols * cell + legend_w, pad_t + rows * cell + pad_b
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
        edges = np.linspace(vmin, vmax, len(colours) + 1)
        index = np.clip(np.digitize(a, edges[1:-1]), 0, len(colours) - 1)
        fill = np.where(ok, np.array(colours, dtype=object)[index], None)
        legend = [(colours[i], f"{edges[i]:.3g} .. {edges[i + 1]:.3g} {unit}".rstrip()) for i in range(len(colours))]
    else:
        lookup = {float(code): colour for code, _, colour in classes}
        fill = np.full(a.shape, None, dtype=object)
        for code, colour in lookup.items():
            fill[ok & (a == code)] = colour
        legend = [(colour, f"{name} ({int((ok & (a == float(code))).sum())} cells)") for code, name, colour in classes]
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
