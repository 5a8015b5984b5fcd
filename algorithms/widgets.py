"""Dialog widgets of ecoresp parameters: the NetCDF variable picked from the chosen file's variables,
the model file of ecoresp:predictupscaler with the drivers the model expects, and the target field
of ecoresp:fitupscaler preselecting the table's respiration column.

A parameter names its widget through its metadata (``{'widget_wrapper': {'class': ...}}``, the
string path of a class here, see ``TimeSeriesInput.dialog_widget``): this module is imported only when a
Processing dialog is built, never by qgis_process or a model run, and the parameters stay plain
string / file parameters there.  The widgets are used in the algorithm dialog; the batch dialog
and the modeller get QGIS's own widget of the parameter (so that a model can still feed the
parameter from a model input)."""

import os

from osgeo import gdal
from processing.gui.wrappers import WidgetWrapper, dialogTypes
from qgis.core import (QgsProcessingContext, QgsProcessingFeatureSourceDefinition, QgsProcessingUtils, QgsProject,
                       QgsVectorLayer)
from qgis.gui import QgsFileWidget, QgsGui, QgsProcessingGui
from qgis.PyQt.QtWidgets import QComboBox, QLabel, QVBoxLayout, QWidget

from ..ecoresp_core.errors import InputError
from ..ecoresp_core.upscaling.model import validate_model_file
from .fitupscaler import respiration_field
from .predictupscaler import describe_drivers


def file_variables(path):
    """The variables of a multi-variable raster file (GDAL subdatasets: a NetCDF's data variables),
    in file order; [] for a single-variable file, a missing path or a file GDAL cannot open."""
    if not path or not os.path.isfile(str(path)):
        return []
    gdal.PushErrorHandler("CPLQuietErrorHandler")  # a file GDAL cannot read lists nothing, silently
    try:
        ds = gdal.Open(str(path))
    except RuntimeError:  # gdal.UseExceptions() in this process
        ds = None
    finally:
        gdal.PopErrorHandler()
    if ds is None:
        return []
    return [name.rsplit(":", 1)[-1].strip('"') for name, _ in ds.GetSubDatasets()]


def _builtin_wrapper(param, dialog):
    """QGIS's own widget wrapper of ``param`` in ``dialog`` (as WidgetWrapperFactory builds it)."""
    if dialog.__class__.__name__ == "ModelerParametersDialog":
        return QgsGui.processingGuiRegistry().createModelerParameterWidget(dialog.model, dialog.childId,
                                                                           param, dialog.context)
    wrapper = QgsGui.processingGuiRegistry().createParameterWidgetWrapper(
        param, dialogTypes.get(dialog.__class__.__name__, QgsProcessingGui.Standard))
    wrapper.setDialog(dialog)
    return wrapper


class _AlgorithmDialogWrapper(WidgetWrapper):
    """A widget wrapper for the algorithm dialog only: in the batch dialog and the modeller the
    parameter gets QGIS's own widget."""

    def __new__(cls, param, dialog, row=0, col=0, **kwargs):
        if dialogTypes.get(dialog.__class__.__name__, QgsProcessingGui.Standard) != QgsProcessingGui.Standard:
            return _builtin_wrapper(param, dialog)
        return super().__new__(cls)


class VariableWidgetWrapper(_AlgorithmDialogWrapper):
    """An editable list of the variables of the file chosen in the file parameter ``file_parameter``
    (widget metadata), refreshed whenever that file changes; any text can still be typed."""

    def __init__(self, param, dialog, row=0, col=0, file_parameter="INPUT_FILE", **kwargs):
        self.file_parameter = file_parameter
        self.variables = []
        super().__init__(param, dialog, row, col, **kwargs)

    def createWidget(self, **kwargs):  # noqa: N802
        combo = QComboBox()
        combo.setEditable(True)
        combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        combo.lineEdit().setPlaceholderText("choose a file: its variables are listed here")
        combo.currentTextChanged.connect(lambda _text: self.widgetValueHasChanged.emit(self))
        return combo

    def setValue(self, value):  # noqa: N802
        self.widget.setEditText("" if value is None else str(value))

    def value(self):
        text = self.widget.currentText().strip()
        return text or None

    def postInitialize(self, wrappers):  # noqa: N802
        for wrapper in wrappers:
            if wrapper.parameterDefinition().name() == self.file_parameter:
                wrapper.widgetValueHasChanged.connect(self.file_changed)
                self.file_changed(wrapper)
                break

    def file_changed(self, wrapper):
        """List the variables of the file now chosen in ``wrapper``."""
        value = wrapper.parameterValue()
        self.set_file(value if isinstance(value, str) else "")

    def set_file(self, path):
        """List the variables of ``path``; the typed variable stays when the file has it (or when
        the file lists none), else the first variable is chosen."""
        text = self.widget.currentText().strip()
        self.variables = file_variables(path)
        self.widget.blockSignals(True)
        self.widget.clear()
        self.widget.addItems(self.variables)
        self.widget.blockSignals(False)
        if self.variables and text not in self.variables:
            text = self.variables[0]
        self.widget.setEditText(text)
        self.widget.setToolTip("Variables in the file: " + ", ".join(self.variables) if self.variables
                               else "The file has one variable (or none is chosen yet): leave empty")
        self.widgetValueHasChanged.emit(self)


class ModelFileWidgetWrapper(_AlgorithmDialogWrapper):
    """The model file of ecoresp:predictupscaler, with the drivers it expects (names and units in
    model order) shown below it."""

    def createWidget(self, **kwargs):  # noqa: N802
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        self.file_widget = QgsFileWidget()
        self.file_widget.setFilter("ecoresp upscaling model (*.npz);;All files (*.*)")
        self.file_widget.setStorageMode(QgsFileWidget.StorageMode.GetFile)
        self.drivers_label = QLabel("Choose a model file to see the drivers it expects")
        self.drivers_label.setWordWrap(True)
        layout.addWidget(self.file_widget)
        layout.addWidget(self.drivers_label)
        self.file_widget.fileChanged.connect(self.file_changed)
        return box

    def file_changed(self, path):
        self.drivers_label.setText(self.describe(path))
        self.widgetValueHasChanged.emit(self)

    @staticmethod
    def describe(path):
        """What the label says about the model file ``path``."""
        if not path:
            return "Choose a model file to see the drivers it expects"
        try:
            meta = validate_model_file(path)
        except InputError as exc:
            return str(exc)
        return describe_drivers(meta)

    def setValue(self, value):  # noqa: N802
        self.file_widget.setFilePath("" if value is None else str(value))
        self.drivers_label.setText(self.describe(self.file_widget.filePath()))

    def value(self):
        return self.file_widget.filePath() or None



class TargetFieldWidgetWrapper(_AlgorithmDialogWrapper):
    """The target field of ecoresp:fitupscaler: the numeric fields of the chosen table, with its
    respiration column chosen (ER_gC_m2_d of an ecoresp site-month table, RECO_NT_gC_m2_d of a
    FLUXNET2015 one; never year or site_id)."""

    def createWidget(self, **kwargs):  # noqa: N802
        combo = QComboBox()
        combo.currentTextChanged.connect(lambda _text: self.widgetValueHasChanged.emit(self))
        return combo

    def postInitialize(self, wrappers):  # noqa: N802
        parent = self.parameterDefinition().parentLayerParameterName()
        for wrapper in wrappers:
            if wrapper.parameterDefinition().name() == parent:
                wrapper.widgetValueHasChanged.connect(self.table_changed)
                self.table_changed(wrapper)
                break

    def table_changed(self, wrapper):
        self.set_layer(self.layer_of(wrapper.parameterValue()))

    @staticmethod
    def layer_of(value):
        """The vector layer a feature-source parameter value stands for, or None."""
        if isinstance(value, QgsProcessingFeatureSourceDefinition):
            value = value.source.staticValue()
        if isinstance(value, QgsVectorLayer):
            return value
        if not isinstance(value, str) or not value:
            return None
        context = QgsProcessingContext()
        context.setProject(QgsProject.instance())
        layer = QgsProcessingUtils.mapLayerFromString(value, context, True)
        if isinstance(layer, QgsVectorLayer) and layer.isValid():
            context.temporaryLayerStore().takeMapLayer(layer)  # kept by the combo box's owner below
            return layer
        return None

    def set_layer(self, layer):
        """List the numeric fields of ``layer``; keep the chosen field when the layer has it, else
        choose its respiration column."""
        chosen = self.widget.currentText()
        self._layer = layer  # a layer loaded from a file lives as long as the dialog
        names = [f.name() for f in layer.fields() if f.isNumeric()] if layer is not None else []
        if chosen not in names:
            chosen = respiration_field(names) or ""
        self.widget.blockSignals(True)
        self.widget.clear()
        self.widget.addItems(names)
        self.widget.blockSignals(False)
        self.widget.setCurrentIndex(self.widget.findText(chosen))
        self.widgetValueHasChanged.emit(self)

    def setValue(self, value):  # noqa: N802
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        if value and self.widget.findText(str(value)) >= 0:
            self.widget.setCurrentIndex(self.widget.findText(str(value)))

    def value(self):
        return self.widget.currentText() or None
