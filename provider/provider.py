"""The ``ecoresp`` Processing provider: the algorithm list and the shipped models."""

import glob
import os

from qgis.core import QgsProcessingModelAlgorithm, QgsProcessingProvider

from ..algorithms import ALGORITHMS
from ..ecoresp_core import __version__

PLUGIN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS_DIR = os.path.join(PLUGIN_DIR, "models")


class EcorespProvider(QgsProcessingProvider):
    def id(self):  # the provider id is part of every algorithm id: never change it
        return "ecoresp"

    def name(self):
        return "ecoresp"

    def longName(self):  # noqa: N802
        return f"ecoresp {__version__} (ecosystem respiration)"

    def versionInfo(self):  # noqa: N802
        return __version__

    def loadAlgorithms(self):  # noqa: N802
        for cls in ALGORITHMS:
            self.addAlgorithm(cls())
        for path in sorted(glob.glob(os.path.join(MODELS_DIR, "*.model3"))):
            model = QgsProcessingModelAlgorithm()
            if model.fromFile(path):
                model.setSourceFilePath(path)
                self.addAlgorithm(model)
