"""The QGIS side: plugin object and Processing provider (id ``ecoresp``)."""
