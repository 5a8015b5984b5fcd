"""Ready styles for categorical outputs: a GDAL colour table and class names in the
file itself, and a QGIS ``.qml`` sidecar (plain XML, loaded by QGIS as the layer's
default style when the raster is opened)."""

import os
from xml.sax.saxutils import escape

from .series import gdal
from .textfiles import write_text_atomic


def apply_categories(dataset, classes, band=1):
    """Store ``classes`` = [(value, label, '#rrggbb'), ...] as the colour table of ``band``
    and as its ``CLASS_NAMES`` metadata item ("1=label;2=label;..."); 0 is nodata."""
    b = dataset.GetRasterBand(band)
    ct = gdal.ColorTable()
    for value, _, colour in classes:
        rgb = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
        ct.SetColorEntry(int(value), rgb + (255,))
    b.SetRasterColorTable(ct)
    b.SetMetadataItem("CLASS_NAMES", ";".join(f"{int(v)}={label}" for v, label, _ in classes))


def paletted_qml(classes, band=1):
    """QGIS style text for a paletted (unique values) renderer of ``classes``."""
    entries = "\n".join(
        f'        <paletteEntry value="{int(v)}" label="{escape(label)}" color="{c}" alpha="255"/>'
        for v, label, c in classes)
    return f"""<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22" styleCategories="Symbology">
  <pipe>
    <rasterrenderer type="paletted" band="{band}" opacity="1" alphaBand="-1" nodataColor="">
      <rasterTransparency/>
      <colorPalette>
{entries}
      </colorPalette>
    </rasterrenderer>
    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation saturation="0" colorizeOn="0" grayscaleMode="0"/>
    <rasterresampler maxOversampling="2"/>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
"""


def write_qml(raster_path, classes, band=1):
    """Write ``<raster basename>.qml`` next to the raster; returns its path."""
    qml = os.path.splitext(raster_path)[0] + ".qml"
    return write_text_atomic(qml, paletted_qml(classes, band))
