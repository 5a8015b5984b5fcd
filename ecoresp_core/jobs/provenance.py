"""What every output records about how it was made: method, options, inputs, versions."""

import json

from ..common.versions import versions


def provenance(algorithm, options, inputs=None):
    """Metadata items of an output, as a flat dict of strings.

    Parameters
    ----------
    algorithm : str
        Name of the job (e.g. ``"trend"``).
    options : dict
        Options of the run (JSON-encoded, keys sorted; values that are not JSON as ``str``).
    inputs : dict or None
        Input labels (paths) by role.

    Returns
    -------
    dict
        ``ECORESP_ALGORITHM``, ``ECORESP_OPTIONS``, ``ECORESP_INPUTS`` and ``ECORESP_VERSIONS``
        (``common.versions.versions``), for raster metadata or table headers.
    """
    return {
        "ECORESP_ALGORITHM": algorithm,
        "ECORESP_OPTIONS": json.dumps(options, sort_keys=True, default=str),
        "ECORESP_INPUTS": json.dumps(inputs or {}, sort_keys=True, default=str),
        "ECORESP_VERSIONS": json.dumps(versions(), sort_keys=True),
    }
