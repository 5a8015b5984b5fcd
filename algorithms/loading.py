"""How ecoresp results are loaded into the project: styled, named and grouped per run.

After an algorithm's processAlgorithm returns (algorithms/base.py), each of its outputs that
QGIS will load (``context.layersToLoadOnCompletion()``) gets a name ("tas: trend slope") and a
layer post-processor (``ResultLoader``) that QGIS calls once the layer is in the project: from
the Processing dialog, batch runs, models (the child algorithms share the model's context) and
``processing.runAndLoadResults``. The post-processor

- styles the layer from what the file says about itself (``style_layer``): a band with a colour
  table and ``CLASS_NAMES`` metadata (trend classes, dominant driver, zones) as paletted with the
  class names; a series (dated bands) as single-band grey of its first date; statistics as
  single-band pseudocolour of their main band (slope and correlations with a diverging ramp
  centred on 0, shares and p-values 0..1), the unit in the legend;
- names it: subject (variable, input layer, site) plus the output, with the unit of the shown band
  in brackets (QGIS 3.22's Identify shows band names, not units, so the unit goes in the name
  and the legend);
- moves it into the run's group of the layer tree: one group per run of a multi-output algorithm
  ("ecoresp trend tas") and one per model run ("trends_attribution run").

QGIS calls the post-processor from C++ after the algorithm's Python objects are gone, so every
post-processor is kept alive in ``_KEEP`` (a few hundred bytes per loaded layer).
"""

import json
import os
import re
import uuid

import numpy as np
from qgis.core import (
    QgsColorRampShader,
    QgsContrastEnhancement,
    QgsGradientColorRamp,
    QgsGradientStop,
    QgsLayerTreeGroup,
    QgsMapLayer,
    QgsPalettedRasterRenderer,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingUtils,
    QgsProject,
    QgsRasterLayer,
    QgsRasterShader,
    QgsSingleBandGrayRenderer,
    QgsSingleBandPseudoColorRenderer,
)
from qgis.PyQt.QtGui import QColor

from ..ecoresp_core.io.series import gdal, split_source

try:  # QGIS >= 3.18: colour ramp legends with a suffix (the unit)
    from qgis.core import QgsColorRampLegendNodeSettings
except ImportError:  # pragma: no cover - older QGIS
    QgsColorRampLegendNodeSettings = None



def _scoped(*paths):
    """The first of the dotted enum names (under qgis.core) that this QGIS has: the newer scoped
    name first, the 3.22 one last."""
    import qgis.core as core
    for path in paths:
        obj = core
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if obj is not None:
            return obj
    raise AttributeError(f"none of {paths} in this QGIS")


INTERPOLATED = _scoped("Qgis.ShaderInterpolationMethod.Linear", "QgsColorRampShader.Type.Interpolated")
STAT_MIN = _scoped("Qgis.RasterBandStatistic.Min", "QgsRasterBandStats.Stats.Min")
STAT_MAX = _scoped("Qgis.RasterBandStatistic.Max", "QgsRasterBandStats.Stats.Max")
STRETCH = _scoped("QgsContrastEnhancement.ContrastEnhancementAlgorithm.StretchToMinimumMaximum")

_KEEP = []  # every post-processor handed to QGIS (it must outlive the run; see the module docstring)
RUN_PROPERTY = "ecoresp/run"
ORDER_PROPERTY = "ecoresp/order"

DIVERGING = ("#2166ac", "#67a9cf", "#f7f7f7", "#ef8a62", "#b2182b")  # blue (negative) .. red (positive)
SEQUENTIAL = ("#fde725", "#5ec962", "#21918c", "#3b528b", "#440154")  # viridis, low (yellow) .. high

# the layer titles of the algorithms' outputs ({algorithm name: {output: title}}); an algorithm may
# set LAYER_TITLES or override EcorespAlgorithm.layer_title instead
DEFAULT_TITLES = {
    "trend": {"OUTPUT": "trend slope", "CLASSES": "trend classes"},
    "detrend": {"OUTPUT": "detrended series"},
    "partialcorrelation": {"OUTPUT": "partial correlation r", "DOMINANT": "dominant driver",
                           "DOMINANT_R": "partial correlation r of the dominant driver"},
    "rfattribution": {"OUTPUT": "relative importance (exploratory)",
                      "DOMINANT": "most important driver (exploratory)"},
    "attributionzones": {"OUTPUT": "dominant-driver area shares per zone"},
    "integrate": {"OUTPUT": "annual totals", "SUMMARY": "comparison of annual totals", "ANNUAL": "annual sums"},
    "predictupscaler": {"OUTPUT": "monthly ER", "OUTSIDE_SHARE": "share of months outside the training range",
                        "TABLE": "predicted ER"},
    "derivedriver": {"OUTPUT": "derived driver"},
}

# the parameter types whose value is an input the layer names can be about (not an enum or a number)
INPUT_TYPES = ("raster", "vector", "source", "file", "multilayer", "layer")

# statistics bands shown first, in this order (else band 1)
MAIN_BANDS = ("slope", "dominant_r", "outside_share")


# -- what a raster says about itself --------------------------------------------------------------------
def _is_date(text):
    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ].*)?", (text or "").strip()))


def describe_raster(path):
    """What the post-processor needs to know of a raster written by ecoresp, from the file:
    ``{"kind": 'categorical'|'series'|'statistics', "band": main band (1-based), "band_name",
    "unit", "classes": [(value, label, QColor)]}``; None when GDAL cannot read it."""
    if gdal is None or not path or not os.path.exists(path):
        return None
    try:
        ds = gdal.Open(path)
    except RuntimeError:
        return None
    if ds is None or ds.RasterCount < 1:
        return None
    names = [ds.GetRasterBand(i + 1).GetDescription() or "" for i in range(ds.RasterCount)]
    info = {"band": 1, "classes": []}
    first = ds.GetRasterBand(1)
    class_names = first.GetMetadataItem("CLASS_NAMES")
    table = first.GetRasterColorTable()
    if class_names:
        labels = {}
        for item in class_names.split(";"):
            code, _, label = item.partition("=")
            if code.strip().lstrip("-").isdigit():
                labels[int(code)] = label
        for code, label in sorted(labels.items()):
            rgba = table.GetColorEntry(code) if table is not None and code < table.GetCount() else (128, 128, 128, 255)
            info["classes"].append((code, label, QColor(*rgba[:3])))
        info["kind"] = "categorical"
    elif len(names) > 1 and all(_is_date(n) or _is_date(ds.GetRasterBand(i + 1).GetMetadataItem("DATE"))
                                for i, n in enumerate(names)):
        info["kind"] = "series"
    else:
        info["kind"] = "statistics"
        for main in MAIN_BANDS:
            if main in names:
                info["band"] = names.index(main) + 1
                break
    band = ds.GetRasterBand(info["band"])
    info["band_name"] = names[info["band"] - 1]
    info["unit"] = (band.GetUnitType() or band.GetMetadataItem("units") or "").strip()
    band = first = table = ds = None  # bands before their dataset
    return info


# -- renderers ---------------------------------------------------------------------------------------------
def _ramp(colours):
    ramp = QgsGradientColorRamp(QColor(colours[0]), QColor(colours[-1]))
    n = len(colours) - 1
    ramp.setStops([QgsGradientStop(i / n, QColor(c)) for i, c in enumerate(colours[1:-1], 1)])
    return ramp


def _band_range(layer, band):
    """(min, max) of a band (exact statistics of a sample of up to 250 000 cells); None when empty."""
    stats = layer.dataProvider().bandStatistics(band, STAT_MIN | STAT_MAX,
                                                layer.extent(), 250000)
    lo, hi = stats.minimumValue, stats.maximumValue
    if lo is None or hi is None or not (lo == lo and hi == hi) or lo > hi:
        return None
    return float(lo), float(hi)


def _value_range(layer, info):
    """(min, max, diverging) of the colour ramp of a statistics band: correlations -1..1, shares and
    p-values 0..1, slopes and other signed quantities symmetric around 0."""
    name = info["band_name"]
    if name in ("dominant_r",) or name.startswith("r_"):
        return -1.0, 1.0, True
    if name in ("p_value", "outside_share") or name.startswith(("p_", "rel_")):
        return 0.0, 1.0, False
    rng = _band_range(layer, info["band"])
    if rng is None:
        return 0.0, 1.0, False
    lo, hi = rng
    if name.startswith("slope") or lo < 0 < hi:
        m = max(abs(lo), abs(hi)) or 1.0
        return -m, m, True
    return lo, hi if hi > lo else lo + 1.0, False


def pseudocolor_renderer(layer, band, lo, hi, colours, unit=""):
    """Single-band pseudocolour of ``band``: an interpolated ramp of ``colours`` spread evenly
    over [lo, hi] (a diverging ramp of 5 colours over [-m, m] has its centre at 0)."""
    n = len(colours) - 1
    fn = QgsColorRampShader(lo, hi)
    fn.setColorRampType(INTERPOLATED)
    fn.setSourceColorRamp(_ramp(colours))
    items = []
    for i, c in enumerate(colours):
        v = lo + (hi - lo) * i / n
        items.append(QgsColorRampShader.ColorRampItem(v, QColor(c), f"{v:.4g}"))
    fn.setColorRampItemList(items)
    if unit and QgsColorRampLegendNodeSettings is not None:
        settings = QgsColorRampLegendNodeSettings()
        settings.setSuffix(f" {unit}")
        fn.setLegendSettings(settings)
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(fn)
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), band, shader)
    renderer.setClassificationMin(lo)
    renderer.setClassificationMax(hi)
    return renderer


def gray_renderer(layer, band):
    """Single-band grey of ``band``, stretched from its minimum to its maximum."""
    renderer = QgsSingleBandGrayRenderer(layer.dataProvider(), band)
    ce = QgsContrastEnhancement(layer.dataProvider().dataType(band))
    ce.setContrastEnhancementAlgorithm(STRETCH)
    rng = _band_range(layer, band)
    if rng is not None:
        ce.setMinimumValue(rng[0])
        ce.setMaximumValue(rng[1])
    renderer.setContrastEnhancement(ce)
    return renderer


def style_layer(layer):
    """Give a raster ``layer`` written by ecoresp its renderer (see the module docstring).
    Returns the description of the file (``describe_raster``) or None when left as loaded."""
    if not isinstance(layer, QgsRasterLayer) or not layer.isValid():
        return None
    info = describe_raster(split_source(layer.source())[0])
    if info is None:
        return None
    if info["kind"] == "categorical":
        classes = [QgsPalettedRasterRenderer.Class(v, c, label) for v, label, c in info["classes"]]
        layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), 1, classes))
    elif info["kind"] == "series":
        layer.setRenderer(gray_renderer(layer, 1))
    else:
        lo, hi, diverging = _value_range(layer, info)
        layer.setRenderer(pseudocolor_renderer(layer, info["band"], lo, hi,
                                               DIVERGING if diverging else SEQUENTIAL, info["unit"]))
    layer.triggerRepaint()
    return info


# -- groups of the layer tree -------------------------------------------------------------------------------
class RunGroup:
    """The layer-tree group of one run: created in the project when its first layer is loaded (beside
    that layer), found again by a key of its own."""

    def __init__(self, name):
        self.name, self.key = name, uuid.uuid4().hex

    def _find(self, group):
        for child in group.children():
            if isinstance(child, QgsLayerTreeGroup):
                if child.customProperty(RUN_PROPERTY) == self.key:
                    return child
                found = self._find(child)
                if found is not None:
                    return found
        return None

    def place(self, layer, project, order=0):
        """Move ``layer``'s node into the group (created beside it when missing), kept in ``order``."""
        root = project.layerTreeRoot()
        node = root.findLayer(layer.id())
        if node is None:
            return None
        group = self._find(root)
        parent = node.parent()
        if group is None:
            index = parent.children().index(node) if parent is not None else 0
            group = (parent or root).insertGroup(index, self.name)
            group.setCustomProperty(RUN_PROPERTY, self.key)
        if parent is group:
            return group
        position = sum(1 for c in group.children() if (c.customProperty(ORDER_PROPERTY) or 0) <= order)
        moved = node.clone()  # keeps the node's visibility and legend state
        moved.setCustomProperty(ORDER_PROPERTY, order)
        group.insertChildNode(position, moved)
        parent.removeChildNode(node)
        return group


class ResultLoader(QgsProcessingLayerPostProcessorInterface):
    """The post-processor of one loaded output: style, name (``name``, the unit added) and group."""

    def __init__(self, name, group=None, order=0):
        super().__init__()
        self.name, self.group, self.order = name, group, order

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802
        try:
            info = style_layer(layer)
            unit = info["unit"] if info and info["kind"] != "categorical" else ""
            layer.setName(f"{self.name} [{unit}]" if unit else self.name)
            if self.group is not None:
                self.group.place(layer, layer.project() or QgsProject.instance(), self.order)
        except Exception as exc:  # noqa: BLE001 - a style must never lose a result
            if feedback is not None:
                feedback.reportError(f"{layer.name()}: the ecoresp style could not be applied ({exc})", False)


# -- naming ------------------------------------------------------------------------------------------------
SITE_ID = re.compile(r"(?<![A-Za-z])([A-Z]{2}-[A-Za-z0-9]{3})(?![A-Za-z0-9])")


def file_subject(path):
    """What a file input is about, for layer names: a FLUXNET site id in the name (FLX_DE-Tha_... ->
    DE-Tha), else the file name without its extensions."""
    base = os.path.basename(str(path).split("|")[0])
    m = SITE_ID.search(base)
    if m:
        return m.group(1)
    for ext in (".gz", ".zip", ".bz2"):
        if base.lower().endswith(ext):
            base = base[:-len(ext)]
    return os.path.splitext(base)[0]


def provenance_subject(path, depth=3):
    """The subject of a raster written by ecoresp, from its provenance metadata (ECORESP_INPUTS): the
    subject of its input series (the variable, the file's name; followed back through earlier steps'
    temporary files, which are named after an output), or the target of a predicted series or of an
    upscaling model file (.npz); '' when the file has no such metadata."""
    if depth <= 0 or not path or not os.path.isfile(path):
        return ""
    if path.lower().endswith(".npz"):  # an upscaling model (ecoresp:fitupscaler): its target
        try:
            with np.load(path, allow_pickle=False) as npz:
                return str(json.loads(npz["metadata_json"].tobytes().decode("utf-8")).get("target", ""))
        except (OSError, ValueError, KeyError):
            return ""
    if gdal is None:
        return ""
    try:
        ds = gdal.Open(path)
        inputs = json.loads(ds.GetMetadataItem("ECORESP_INPUTS") or "{}")
        target = ds.GetMetadataItem("ECORESP_TARGET") or ""
        ds = None
    except (RuntimeError, ValueError, AttributeError):
        return ""
    label = next((inputs[k] for k in ("input", "er", "first") if isinstance(inputs, dict) and k in inputs), None)
    if isinstance(label, str) and label:
        m = re.fullmatch(r"(.*) \(variable (.+)\)", label)
        if m:
            return m.group(2)
        if _temporary(label):  # an earlier step's temporary output: its own input's subject
            return provenance_subject(label, depth - 1) or file_subject(label)
        return file_subject(label)
    return target.split(" [")[0].strip()


def _temporary(source, layer=None):
    """Whether a source is an earlier step's temporary output (named after the output, not the data)."""
    if layer is not None and layer.providerType() == "memory":
        return True
    return os.path.abspath(source).startswith(os.path.abspath(QgsProcessingUtils.tempFolder()))


def input_subject(value, context):
    """The subject of an input parameter value (a layer, a layer id or source, a file path): the
    NetCDF variable of a NETCDF:"file":var source, the name of a project layer, the name of a file
    (a FLUXNET site id in it); for a temporary output of an earlier step (a model's), the subject in
    its provenance ('' when it has none)."""
    layer = value if isinstance(value, QgsMapLayer) else None
    text = value.source() if layer is not None else str(value)
    if layer is None:
        try:
            layer = QgsProcessingUtils.mapLayerFromString(text, context, False)
        except Exception:  # noqa: BLE001 - not a layer
            layer = None
    if layer is not None:
        text = layer.source()
    path, variable = split_source(text)
    if variable:
        return variable
    if _temporary(path, layer):
        return provenance_subject(path)
    return layer.name() if layer is not None else file_subject(path)


def model_name(context):
    """The name of the model running the algorithm (the child algorithms of a model see its
    expression context scope), or ''."""
    try:
        value = context.expressionContext().variable("model_name")
    except Exception:  # noqa: BLE001
        return ""
    return str(value) if value not in (None, "") else ""


# model runs: {model name: (RunGroup, paths of the layers it holds)}. A model's child algorithms
# share one context, whose expression context names the model ('model_name'); within a run the
# layers still to be loaded accumulate, so a child whose pending layers include one already placed
# belongs to that run, any other to a new run.
_MODEL_RUNS = {}


def model_group(name, pending):
    """The RunGroup of the current run of model ``name`` (``pending``: the context's layers to load)."""
    group, paths = _MODEL_RUNS.get(name, (None, set()))
    if group is None or not paths & set(pending):
        group, paths = RunGroup(f"{name} run"), set()
        _MODEL_RUNS[name] = (group, paths)
    return group, paths


def attach(alg, parameters, context, results):
    """Name, style and group the outputs of ``alg`` (an EcorespAlgorithm) that QGIS will load:
    each gets a ``ResultLoader`` (see the module docstring). Returns {output: layer name}."""
    pending = context.layersToLoadOnCompletion()
    outputs = []
    for output in alg.outputDefinitions():
        value = results.get(output.name()) if isinstance(results, dict) else None
        if isinstance(value, str) and value in pending:
            outputs.append((output.name(), value))
    if not outputs:
        return {}
    subject = alg.layer_subject(parameters, context)
    in_model = model_name(context)
    if in_model:
        group, paths = model_group(in_model, pending)
        paths.update(value for _, value in outputs)
    elif len(outputs) > 1:
        group = RunGroup(alg.run_group_name(subject))
    else:
        group = None
    names = {}
    order_of = [p.name() for p in alg.destinationParameterDefinitions()]
    for output, value in outputs:
        title = alg.layer_title(output)
        name = f"{subject}: {title}" if subject else title
        details = context.layerToLoadOnCompletionDetails(value)
        details.name = name
        if hasattr(details, "forceName"):
            details.forceName = True
        order = order_of.index(output) if output in order_of else len(order_of)
        if in_model:
            order += 1000 * len(_KEEP)  # model steps in the order they ran
        loader = ResultLoader(name, group, order)
        _KEEP.append(loader)
        details.setPostProcessor(loader)
        names[output] = name
    return names

