"""Temperature climate zones from the mean annual temperature (docs/methods.md section 13)."""

import numpy as np

ZONE_NAMES = {1: "boreal", 2: "temperate", 3: "tropical"}


def climate_zones_from_mat(mat_degc):
    """Zones from mean annual temperature (degC): 1 boreal (< 2), 2 temperate (2..17, both ends
    inclusive), 3 tropical (> 17); 0 where MAT is missing."""
    mat = np.asarray(mat_degc, dtype="float64")
    z = np.zeros(mat.shape, dtype="int16")
    z[mat < 2.0] = 1
    z[(mat >= 2.0) & (mat <= 17.0)] = 2
    z[mat > 17.0] = 3
    return z
