"""Processing algorithms, one per file; each is thin: read and check parameters, call
``ecoresp_core``, write outputs."""

from .detrend import DetrendAlgorithm
from .trend import TrendAlgorithm

ALGORITHMS = [TrendAlgorithm, DetrendAlgorithm]
