"""The one parser of ``key=value`` lists given as text: zone names (``1=A, 2=B``), driver files
(``TA=NETCDF:"cru.nc":tmp; IGBP=lc.tif``), aggregation overrides (``SM=mean; snow=sum``), units
of features (``TA=degC, VPD=hPa``), column maps (``NEE=FC; TA=TA_F``) and options."""

import re

from ..errors import InputError

BOTH = ",;"


def parse_pairs(text, what, form="name=value", separators=BOTH):
    """``[(key, value), ...]`` in the order given, keys and values stripped, from entries separated by
    any of ``separators`` (both ',' and ';' unless a value may hold one of them, as a file path
    may hold ','); empty entries are skipped.  An entry without '=' raises InputError naming
    ``what`` (the parameter), the entry and the expected ``form``."""
    out = []
    for entry in re.split("[" + re.escape(separators) + "]", str(text or "")):
        entry = entry.strip()
        if not entry:
            continue
        key, eq, value = entry.partition("=")
        if not eq:
            raise InputError(f"{what}: entry {entry!r} is not {form}")
        out.append((key.strip(), value.strip()))
    return out


def parse_list(text, separators=BOTH):
    """The non-empty stripped items of a list given as text (``'DE-Hai, FR-Pue'``)."""
    return [s.strip() for s in re.split("[" + re.escape(separators) + "]", str(text or "")) if s.strip()]
