"""The ``ecoresp`` Processing provider: the algorithm list and the shipped models."""

import glob
import os

from qgis.core import QgsApplication, QgsProcessingModelAlgorithm, QgsProcessingProvider

from ..algorithms import ALGORITHMS
from ..algorithms.icons import provider_icon, provider_icon_path
from ..ecoresp_core import __version__
from .actions import resolve_example_paths

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

    def icon(self):
        return provider_icon()

    def svgIconPath(self):  # noqa: N802
        return provider_icon_path()

    def __init__(self):
        super().__init__()
        # The shipped models' steps are this provider's algorithms: they resolve only once the
        # provider is in the registry, so the models are loaded by a refresh right after it is added.
        QgsApplication.processingRegistry().providerAdded.connect(self._on_provider_added)

    def _on_provider_added(self, provider_id):
        if provider_id == self.id() and QgsApplication.processingRegistry().providerById(provider_id) is self:
            self.refreshAlgorithms()

    def loadAlgorithms(self):  # noqa: N802
        for cls in ALGORITHMS:
            self.addAlgorithm(cls())
        if QgsApplication.processingRegistry().providerById(self.id()) is not self:
            return  # not registered yet: _on_provider_added loads the models
        for path in sorted(glob.glob(os.path.join(MODELS_DIR, "*.model3"))):
            model = QgsProcessingModelAlgorithm()
            if model.fromFile(path):
                model.setSourceFilePath(path)
                resolve_example_paths(model)  # the example data's paths in this installation
                self.addAlgorithm(model)
