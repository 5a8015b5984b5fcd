"""Dates of a raster time series: parsing, decoding CF time axes, regular steps.

A date is any object with ``year``, ``month``, ``day`` (``datetime.datetime`` or a
``cftime`` date for non-standard calendars such as ``360_day``).  Band descriptions
written by ecoresp are ISO dates ``YYYY-MM-DD``.
"""

import calendar
import datetime as _dt
import re

import numpy as np

from ..errors import InputError

_ISO = re.compile(
    r"^\s*(?P<y>\d{4})(?:[-/]?(?P<m>\d{2})(?:[-/]?(?P<d>\d{2})"
    r"(?:[T ](?P<H>\d{2}):?(?P<M>\d{2})(?::?(?P<S>\d{2}(?:\.\d*)?))?Z?)?)?)?\s*$"
)
_STEPS = {"P1Y": "annual", "ANNUAL": "annual", "YEARLY": "annual",
          "P1M": "monthly", "MONTHLY": "monthly",
          "P1D": "daily", "DAILY": "daily"}


def parse_date(text, what="date"):
    """Parse ``YYYY``, ``YYYY-MM``, ``YYYYMM``, ``YYYY-MM-DD``, ``YYYYMMDD`` or an ISO
    date-time into a ``datetime.datetime``; raise InputError naming ``what``."""
    m = _ISO.match(str(text))
    if not m:
        raise InputError(f"{what}: cannot read {text!r} as a date (expected YYYY, YYYY-MM or YYYY-MM-DD)")
    y = int(m["y"])
    mo = int(m["m"] or 1)
    d = int(m["d"] or 1)
    sec = float(m["S"] or 0)
    try:
        return _dt.datetime(y, mo, d, int(m["H"] or 0), int(m["M"] or 0), int(sec))
    except ValueError as exc:
        raise InputError(f"{what}: {text!r} is not a valid date ({exc})") from None


def format_date(d):
    """ISO text of a date: ``YYYY-MM-DD``, with ``THH:MM:SS`` only when not midnight."""
    text = f"{d.year:04d}-{d.month:02d}-{d.day:02d}"
    h, mi, s = getattr(d, "hour", 0), getattr(d, "minute", 0), getattr(d, "second", 0)
    if h or mi or s:
        text += f"T{h:02d}:{mi:02d}:{s:02d}"
    return text


def _add_months(d, n):
    k = d.year * 12 + d.month - 1 + n
    return _dt.datetime(k // 12, k % 12 + 1, min(d.day, 28) if d.day > 28 else d.day)


def expand_dates_spec(spec, count, what="DATES"):
    """Dates from a user text: a list (comma, semicolon or white space separated), or
    ``START/STEP`` with STEP one of P1Y, P1M, P1D (or annual, monthly, daily) that is
    expanded to ``count`` dates.  The list must have exactly ``count`` entries."""
    spec = (spec or "").strip()
    if not spec:
        raise InputError(f"{what} is empty")
    if "/" in spec and not re.search(r"[,;\s]", spec.strip()):
        start_text, step_text = spec.split("/", 1)
        step = _STEPS.get(step_text.strip().upper())
        if step is None:
            raise InputError(f"{what}: unknown step {step_text!r}; use P1Y, P1M or P1D")
        start = parse_date(start_text, what)
        if step == "annual":
            return [_dt.datetime(start.year + i, start.month, start.day) for i in range(count)]
        if step == "monthly":
            return [_add_months(start, i) for i in range(count)]
        return [start + _dt.timedelta(days=i) for i in range(count)]
    items = [s for s in re.split(r"[,;\s]+", spec) if s]
    if len(items) != count:
        raise InputError(f"{what} lists {len(items)} dates but the raster has {count} bands")
    return [parse_date(s, f"{what} item {i + 1}") for i, s in enumerate(items)]


def decode_cf_time(values, units, calendar, what="time axis"):
    """Decode numeric CF time values (``units`` like 'days since 1900-1-1') with cftime.
    Standard calendars give ``datetime.datetime``; others give cftime dates."""
    import cftime

    calendar = (calendar or "standard").strip().lower()
    try:
        out = cftime.num2date(np.asarray(values, dtype="float64"), units, calendar,
                              only_use_cftime_datetimes=False,
                              only_use_python_datetimes=False)
    except Exception as exc:  # cftime raises ValueError/TypeError with varied texts
        raise InputError(f"{what}: cannot decode time values with units {units!r} and "
                         f"calendar {calendar!r} ({exc})") from None
    return list(np.atleast_1d(out))


def date_parts(dates):
    """Integer arrays (years, months, days) of a list of dates."""
    return (np.array([d.year for d in dates]), np.array([d.month for d in dates]),
            np.array([d.day for d in dates]))


def time_step(dates):
    """'annual', 'monthly', 'daily' for a regular axis, else None.  A single date is None."""
    if len(dates) < 2:
        return None
    y, m, d = date_parts(dates)
    k = y * 12 + m - 1
    if np.all(np.diff(y) == 1) and np.all(m == m[0]):
        return "annual"
    if np.all(np.diff(k) == 1):
        return "monthly"
    try:
        ords = np.array([_dt.date(int(a), int(b), int(c)).toordinal() for a, b, c in zip(y, m, d)])
    except ValueError:  # 360-day calendar day 30 of February etc.
        return None
    if np.all(np.diff(ords) == 1):
        return "daily"
    return None


STEPS_PER_YEAR = {"annual": 1.0, "monthly": 12.0, "daily": 365.25}


def days_in_month(year, month):
    """Number of days of each (year, month): a float for scalars, a float64 array for arrays."""
    y = np.atleast_1d(np.asarray(year, dtype="int64"))
    m = np.atleast_1d(np.asarray(month, dtype="int64"))
    y, m = np.broadcast_arrays(y, m)
    if np.any((m < 1) | (m > 12)):
        raise InputError(f"month must be 1..12 (got {m[(m < 1) | (m > 12)][0]})")
    out = np.array([calendar.monthrange(int(a), int(b))[1] for a, b in zip(y.ravel(), m.ravel())],
                   dtype="float64").reshape(y.shape)
    return out if np.ndim(year) or np.ndim(month) else float(out.ravel()[0])
