"""Plugin object: registers the Processing provider for desktop and ``qgis_process`` and adds the
toolbox action that opens a copy of a shipped model in the Model Designer (provider/actions.py)."""

from qgis.core import QgsApplication


class EcorespPlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider = None  # keep a reference: an unreferenced provider is collected
        self.actions = []

    def initProcessing(self):  # noqa: N802 (QGIS API name)
        from .provider import EcorespProvider

        if self.provider is None:
            self.provider = EcorespProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802
        from .actions import register_actions

        self.initProcessing()
        if not self.actions:
            self.actions = register_actions()

    def unload(self):
        from .actions import unregister_actions

        unregister_actions(self.actions)
        self.actions = []
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
