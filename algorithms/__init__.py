"""Processing algorithms, one per file; each is thin: read and check parameters, call
``ecoresp_core``, write outputs."""

from .attributionzones import AttributionZonesAlgorithm
from .derivedriver import DeriveDriverAlgorithm
from .detrend import DetrendAlgorithm
from .evaluate import EvaluateAlgorithm
from .fitupscaler import FitUpscalerAlgorithm
from .gapfill import GapfillAlgorithm
from .integrate import IntegrateAlgorithm
from .isotopepartition import IsotopePartitionAlgorithm
from .partialcorrelation import PartialCorrelationAlgorithm
from .partition import PartitionAlgorithm
from .predictupscaler import PredictUpscalerAlgorithm
from .rfattribution import RfAttributionAlgorithm
from .sitemonthtable import SiteMonthTableAlgorithm
from .trend import TrendAlgorithm
from .ustarthreshold import UstarThresholdAlgorithm

# in pipeline order: u* threshold -> gap filling -> site partitioning -> upscaling -> trends and attribution
ALGORITHMS = [UstarThresholdAlgorithm, GapfillAlgorithm,
              PartitionAlgorithm, IsotopePartitionAlgorithm, EvaluateAlgorithm,
              SiteMonthTableAlgorithm, DeriveDriverAlgorithm, FitUpscalerAlgorithm,
              PredictUpscalerAlgorithm, IntegrateAlgorithm,
              TrendAlgorithm, DetrendAlgorithm,
              PartialCorrelationAlgorithm, RfAttributionAlgorithm, AttributionZonesAlgorithm]
