"""ecoresp QGIS plugin entry point (QGIS calls ``classFactory``)."""


def classFactory(iface):  # noqa: N802 (QGIS API name)
    from .provider.plugin import EcorespPlugin

    return EcorespPlugin(iface)
