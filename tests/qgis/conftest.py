import pytest


@pytest.fixture
def provider(qgis_app, qgis_processing):
    """The registered ecoresp provider (registered once, kept for the session)."""
    from qgis.core import QgsApplication

    from ecoresp.provider.provider import EcorespProvider

    reg = QgsApplication.processingRegistry()
    prov = reg.providerById("ecoresp")
    if prov is None:
        prov = EcorespProvider()
        assert reg.addProvider(prov)
        _keep.append(prov)
    return prov


_keep = []
