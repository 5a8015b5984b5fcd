"""Dates of a raster time series: parsing, decoding CF time axes, regular steps.

A date is any object with ``year``, ``month``, ``day`` (``datetime.datetime`` or a
``cftime`` date for non-standard calendars such as ``360_day``).  Band descriptions
written by ecoresp are ISO dates ``YYYY-MM-DD``.

Month and year lengths follow the CF calendar of the dates (:func:`calendar_of`: a cftime date
carries its calendar, a ``datetime`` is Gregorian): ``360_day`` months have 30 days,
``noleap``/``365_day`` never have a 29 February, ``all_leap``/``366_day`` always do, ``julian``
has a leap year every 4 years.
"""

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


def parse_date(text, what="date", calendar=None):
    """Parse ``YYYY``, ``YYYY-MM``, ``YYYYMM``, ``YYYY-MM-DD``, ``YYYYMMDD`` or an ISO
    date-time into a ``datetime.datetime`` (a cftime date in a non-standard CF ``calendar``,
    e.g. 2000-02-30 in '360_day'); raise InputError naming ``what``."""
    m = _ISO.match(str(text))
    if not m:
        raise InputError(f"{what}: cannot read {text!r} as a date (expected YYYY, YYYY-MM or YYYY-MM-DD)")
    fields = (int(m["y"]), int(m["m"] or 1), int(m["d"] or 1), int(m["H"] or 0), int(m["M"] or 0),
              int(float(m["S"] or 0)))
    try:
        if calendar and calendar.strip().lower() not in STANDARD_CALENDARS:
            import cftime

            calendar_rule(calendar)
            return cftime.datetime(*fields, calendar=calendar.strip().lower())
        return _dt.datetime(*fields)
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
    dates = [parse_date(s, f"{what} item {i + 1}") for i, s in enumerate(items)]  # a bad date named first
    if len(dates) != count:
        raise InputError(f"{what} lists {len(dates)} dates but the raster has {count} bands")
    return dates


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


def _day_number(d):
    """Days since an epoch of the date's own calendar (cftime dates count in their calendar)."""
    if hasattr(d, "calendar") and hasattr(d, "toordinal"):
        return d.toordinal()
    return _dt.date(d.year, d.month, d.day).toordinal()


def time_step(dates):
    """'annual', 'monthly', 'daily' for a regular axis, else None.  A single date is None.
    Daily steps are counted in the dates' calendar (a 360_day 30 February is followed by 1 March)."""
    if len(dates) < 2:
        return None
    y, m, d = date_parts(dates)
    k = y * 12 + m - 1
    if np.all(np.diff(y) == 1) and np.all(m == m[0]):
        return "annual"
    if np.all(np.diff(k) == 1):
        return "monthly"
    try:
        ords = np.array([_day_number(x) for x in dates])
    except ValueError:  # a Gregorian date that does not exist
        return None
    if np.all(np.diff(ords) == 1):
        return "daily"
    return None


STANDARD_CALENDARS = ("standard", "gregorian", "proleptic_gregorian")
# CF calendar -> leap rule: "gregorian", "julian", "never", "always"; None: 12 months of 30 days
_CALENDARS = {
    **{c: "gregorian" for c in STANDARD_CALENDARS},
    "julian": "julian",
    "noleap": "never", "365_day": "never",
    "all_leap": "always", "366_day": "always",
    "360_day": None,
}
_COMMON_YEAR = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype="float64")
# mean length of a year in days: the step count of a daily series per year (standard: 365.25)
_YEAR_DAYS = {"gregorian": 365.25, "julian": 365.25, "never": 365.0, "always": 366.0, None: 360.0}


def calendar_rule(name):
    """The leap rule of a CF calendar name (see ``_CALENDARS``); InputError for an unknown calendar."""
    key = (name or "standard").strip().lower()
    if key not in _CALENDARS:
        raise InputError(f"calendar {name!r} is not supported; use one of {', '.join(_CALENDARS)}")
    return _CALENDARS[key]


def calendar_of(dates):
    """The CF calendar of a list of dates: a cftime date's ``calendar``, else 'standard'."""
    cal = getattr(dates[0], "calendar", None) if len(dates) else None
    return str(cal or "standard").lower()


def steps_per_year(step, calendar="standard"):
    """Time steps of a regular axis ('annual', 'monthly', 'daily') per year in ``calendar``:
    1, 12, and the mean days per year (365.25 standard and julian, 365 noleap, 366 all_leap, 360)."""
    if step == "annual":
        return 1.0
    if step == "monthly":
        return 12.0
    if step == "daily":
        return _YEAR_DAYS[calendar_rule(calendar)]
    raise InputError(f"no steps per year for a {step or 'irregular'} time axis")


def _is_leap(y, rule):
    if rule == "gregorian":
        return (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    if rule == "julian":
        return y % 4 == 0
    return np.full(np.shape(y), rule == "always")


def days_in_month(year, month, calendar="standard"):
    """Number of days of each (year, month) in the CF ``calendar`` (default Gregorian): a float
    for scalars, a float64 array for arrays."""
    y = np.atleast_1d(np.asarray(year, dtype="int64"))
    m = np.atleast_1d(np.asarray(month, dtype="int64"))
    y, m = np.broadcast_arrays(y, m)
    if np.any((m < 1) | (m > 12)):
        raise InputError(f"month must be 1..12 (got {m[(m < 1) | (m > 12)][0]})")
    rule = calendar_rule(calendar)
    if rule is None:
        out = np.full(y.shape, 30.0)
    else:
        out = _COMMON_YEAR[m - 1] + ((m == 2) & _is_leap(y, rule))
    return out if np.ndim(year) or np.ndim(month) else float(out.ravel()[0])


def days_in_year(year, calendar="standard"):
    """Number of days of ``year`` (an int) in the CF ``calendar``."""
    return int(days_in_month(np.full(12, int(year)), np.arange(1, 13), calendar).sum())


def month_lengths(dates):
    """Days of each date's month in the dates' own calendar (:func:`calendar_of`), float64."""
    y, m, _ = date_parts(dates)
    return days_in_month(y, m, calendar_of(dates)) if len(dates) else np.zeros(0)
