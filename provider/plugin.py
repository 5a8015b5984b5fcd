"""Plugin object: registers the Processing provider for desktop and ``qgis_process``."""

from qgis.core import QgsApplication


class EcorespPlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider = None  # keep a reference: an unreferenced provider is collected

    def initProcessing(self):  # noqa: N802 (QGIS API name)
        from .provider import EcorespProvider

        if self.provider is None:
            self.provider = EcorespProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802
        self.initProcessing()

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
