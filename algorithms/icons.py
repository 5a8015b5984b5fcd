"""The provider's and the algorithms' icons: SVG files in algorithms/icons/, one per toolbox group
(partitioning: a flux tower with respiration up and uptake down; upscaling: a gridded globe; trends:
a series with its slope) and the provider's (ecoresp.svg: a leaf giving off CO2; ecoresp.png is the
same drawing for the plugin manager, metadata.txt icon=)."""

import os

from qgis.PyQt.QtGui import QIcon

ICONS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "icons")
PROVIDER_ICON = os.path.join(ICONS_DIR, "ecoresp.svg")


def algorithm_icon_path(group_id):
    """Path of the SVG icon of a toolbox group (the provider's when the group has none)."""
    path = os.path.join(ICONS_DIR, f"{group_id}.svg")
    return path if group_id and os.path.exists(path) else provider_icon_path()


def algorithm_icon(group_id):
    path = algorithm_icon_path(group_id)
    return QIcon(path) if path else QIcon()


def provider_icon_path():
    return PROVIDER_ICON if os.path.exists(PROVIDER_ICON) else ""


def provider_icon():
    path = provider_icon_path()
    return QIcon(path) if path else QIcon()
