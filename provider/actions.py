"""The shipped models in the user's hands: their example paths resolved to the installed plugin's
``example`` folder, and the toolbox action "Open a Copy in the Model Designer".

The model files (models/*.model3, written by models/build_models.py) name the example data as
``{ecoresp_example}/<file>``, in the inputs' defaults and in the steps' ``coalesce(@input, default)``
expressions; model files are static, so the plugin replaces that placeholder by the absolute path
of its example folder once the models are loaded (desktop and qgis_process alike)."""

import os
import re

from qgis.core import QgsApplication, QgsProcessingModelAlgorithm

from ..algorithms.qgiscompat import SOURCE_OF_EXPRESSION

PLUGIN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE_DIR = os.path.join(PLUGIN_DIR, "example")
EXAMPLE = "{ecoresp_example}"  # the placeholder of models/build_models.py


def _folder(folder):
    return (folder or EXAMPLE_DIR).replace("\\", "/")  # also in expressions: no backslash escapes


def resolve_example_paths(model, folder=None):
    """Replace the placeholder of the example folder in ``model`` (a QgsProcessingModelAlgorithm),
    in its inputs' defaults and its steps' expressions, by ``folder`` (default: this plugin's
    example folder). Returns the number of replacements (0 when already resolved)."""
    folder, n = _folder(folder), 0
    for p in model.parameterDefinitions():
        default = p.defaultValue()
        if isinstance(default, str) and EXAMPLE in default:
            p.setDefaultValue(default.replace(EXAMPLE, folder))
            n += 1
    literal = folder.replace("'", "''")  # inside a quoted expression string
    for child in model.childAlgorithms().values():
        hits = 0
        for key, sources in child.parameterSources().items():
            found = [s for s in sources if s.source() == SOURCE_OF_EXPRESSION and EXAMPLE in s.expression()]
            for s in found:
                s.setExpression(s.expression().replace(EXAMPLE, literal))
            if found:
                child.addParameterSources(key, sources)  # replaces the key's sources
                hits += len(found)
        if hits:
            model.setChildAlgorithm(child)
            n += hits
    return n


def copy_name(folder, name):
    """A file name in ``folder`` for a copy of model ``name`` that clobbers nothing:
    ``<name>_copy.model3``, ``<name>_copy_2.model3``, ..."""
    stem, i = f"{name}_copy", 1
    while True:
        candidate = stem if i == 1 else f"{stem}_{i}"
        if not os.path.exists(os.path.join(folder, candidate + ".model3")):
            return candidate
        i += 1


def copy_to_user_models(alg, folder=None):
    """Write a copy of the shipped model ``alg`` (example paths resolved) into ``folder`` (default: the
    first of the user's Processing models folders, where *Models* lists them) and refresh the model
    provider. The copy is named ``<model>_copy`` (``_copy_2``, ...), so that its id ``model:<name>`` is
    new. Returns the path of the copy."""
    if folder is None:
        from processing.modeler.ModelerUtils import ModelerUtils
        folder = ModelerUtils.modelsFolders()[0]
    os.makedirs(folder, exist_ok=True)
    name = copy_name(folder, re.sub(r"[^A-Za-z0-9_-]+", "_", alg.name()))
    model = QgsProcessingModelAlgorithm()
    model.loadVariant(alg.toVariant())
    resolve_example_paths(model)
    model.setName(name)
    path = os.path.join(folder, name + ".model3")
    if not model.toFile(path):
        raise OSError(f"cannot write {path}")
    models = QgsApplication.processingRegistry().providerById("model")
    if models is not None:
        models.refreshAlgorithms()
    return path


def open_copy_in_designer(alg, folder=None):
    """Copy ``alg`` into the user's models folder and open the copy in the Model Designer.
    Returns (path of the copy, the ModelerDialog)."""
    from processing.modeler.ModelerDialog import ModelerDialog
    path = copy_to_user_models(alg, folder)
    model = QgsProcessingModelAlgorithm()
    if not model.fromFile(path):
        raise OSError(f"cannot read {path}")
    model.setSourceFilePath(path)
    dlg = ModelerDialog.create(model)
    models = QgsApplication.processingRegistry().providerById("model")
    if models is not None:  # a save in the designer updates the toolbox's Models
        dlg.update_model.connect(models.refreshAlgorithms)
    dlg.show()
    return path, dlg


def _context_action_base():
    try:
        from processing.gui.ContextAction import ContextAction
    except ImportError:  # a QGIS without the Python Processing toolbox
        return None
    return ContextAction


_Base = _context_action_base()

if _Base is not None:
    class OpenModelCopyAction(_Base):
        """Toolbox context-menu entry on the ecoresp models: open a copy in the Model Designer."""

        def __init__(self):
            super().__init__()
            self.name = "Open a Copy in the Model Designer…"
            self.last = None  # (path, dialog) of the last copy opened

        def isEnabled(self):  # noqa: N802 (Processing API name)
            alg = getattr(self, "itemData", None)
            return (isinstance(alg, QgsProcessingModelAlgorithm) and alg.provider() is not None
                    and alg.provider().id() == "ecoresp")

        def execute(self):
            self.last = open_copy_in_designer(self.itemData)
else:  # pragma: no cover
    OpenModelCopyAction = None


def register_actions():
    """Add the context-menu actions to the Processing toolbox; returns them (for unregister_actions)."""
    if OpenModelCopyAction is None:
        return []
    try:
        from processing.gui.ProviderActions import ProviderContextMenuActions
    except ImportError:  # pragma: no cover
        return []
    actions = [OpenModelCopyAction()]
    ProviderContextMenuActions.registerProviderContextMenuActions(actions)
    return actions


def unregister_actions(actions):
    if not actions:
        return
    from processing.gui.ProviderActions import ProviderContextMenuActions
    ProviderContextMenuActions.deregisterProviderContextMenuActions(actions)
