"""Run inside the QGIS desktop by tests/screenshots/take.sh (qgis --code take.py): saves PNGs of the
Processing toolbox with the ecoresp provider expanded, the partition and trend dialogs, the trend run
from its dialog (the results loaded as a user gets them) and the map with that result, then quits QGIS.

Each step runs from the Qt event loop (QTimer), so that QGIS draws between steps; every step is logged
to OUT/take.log; a failed step is logged and the next one runs; OUT/done marks the end."""

import os
import time
import traceback

from qgis.core import QgsApplication, QgsProject
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.PyQt.QtWidgets import QDockWidget
from qgis.utils import iface

OUT = os.environ.get("ECORESP_SHOTS_OUT", os.path.join(os.getcwd(), "screenshots"))
REPO = os.environ.get("ECORESP_SHOTS_REPO", os.getcwd())
IBERIA = os.path.join(REPO, "tests", "data", "cru_ts400_iberia_1981-2010_monthly.nc")
TOWER = os.path.join(REPO, "tests", "data", "flux", "FLX_DE-Hai_FLUXNET2015_zarrsubset_HH_2007-2008.csv.gz")
WAIT_RUN_S = 180

state = {"t0": time.time()}


def log(text):
    with open(os.path.join(OUT, "take.log"), "a", encoding="utf-8") as f:
        f.write(f"[{time.time() - state['t0']:6.1f} s] {text}\n")


def save(widget, name):
    path = os.path.join(OUT, name)
    ok = widget.grab().save(path)
    log(f"{name}: {'saved' if ok else 'NOT saved'} ({widget.width()}x{widget.height()})")


def known(alg_id, parameters):
    """``parameters`` without those the algorithm does not have (the dialogs change); an enum's value
    may be given by its label ('annual mean')."""
    alg = QgsApplication.processingRegistry().algorithmById(alg_id)
    out = {}
    for name, value in parameters.items():
        definition = alg.parameterDefinition(name)
        if definition is None:
            log(f"{alg_id}: no parameter {name}")
            continue
        if definition.type() == "enum" and isinstance(value, str):
            if value not in definition.options():
                log(f"{alg_id}: {name} has no option {value!r}")
                continue
            value = definition.options().index(value)
        out[name] = value
    return out


def toolbox():
    window = iface.mainWindow()
    window.move(0, 0)
    window.resize(1600, 1000)
    dock = window.findChild(QDockWidget, "ProcessingToolbox")
    if dock is None:
        raise RuntimeError("no Processing toolbox")
    dock.show()
    dock.raise_()
    window.resizeDocks([dock], [480], Qt.Horizontal)
    tree = dock.algorithmTree
    model = tree.model()
    for row in range(model.rowCount()):
        index = model.index(row, 0)
        if str(model.data(index, Qt.DisplayRole)).startswith("ecoresp"):
            tree.collapseAll()
            tree.expandRecursively(index)
            tree.scrollTo(index, tree.PositionAtTop)
            tree.setCurrentIndex(index)
            break
    else:
        raise RuntimeError("no ecoresp provider in the toolbox")
    state["dock"] = dock


def toolbox_shot():
    save(iface.mainWindow(), "toolbox.png")
    save(state["dock"], "toolbox_panel.png")


def dialog(alg_id, parameters, name):
    import processing

    dlg = processing.createAlgorithmDialog(alg_id, known(alg_id, parameters))
    dlg.resize(1000, 900)
    dlg.show()
    state[name] = dlg


def dialog_shot(name, close=True):
    dlg = state[name]
    save(dlg, f"{name}.png")
    if close:
        dlg.close()


def run_trend():
    dlg = state["trend_dialog"]
    state["layers_before"] = set(QgsProject.instance().mapLayers())
    state["run_started"] = time.time()
    dlg.runAlgorithm()


def trend_done():
    new = set(QgsProject.instance().mapLayers()) - state["layers_before"]
    return bool(new) or time.time() - state["run_started"] > WAIT_RUN_S


def trend_result():
    dlg = state["trend_dialog"]
    save(dlg, "trend_log.png")
    dlg.close()
    project = QgsProject.instance()
    layers = sorted((project.mapLayer(i) for i in set(project.mapLayers()) - state["layers_before"]),
                    key=lambda lyr: lyr.name())
    log("loaded: " + "; ".join(f"{lyr.name()} ({type(lyr.renderer()).__name__ if hasattr(lyr, 'renderer') else ''})"
                               for lyr in layers))
    if not layers:
        raise RuntimeError("the trend run loaded no layer")
    browser = iface.mainWindow().findChild(QDockWidget, "Browser")
    if browser is not None:
        browser.hide()  # the Layers panel gets the height: the legends show whole
    panel = iface.mainWindow().findChild(QDockWidget, "Layers")
    if panel is not None:
        iface.mainWindow().resizeDocks([panel], [380], Qt.Horizontal)  # and the width: the names show whole
    state["result_layers"] = layers


def trend_map_shot():
    canvas = iface.mapCanvas()
    layers = state.get("result_layers", [])
    if layers:
        extent = canvas.mapSettings().layerExtentToOutputExtent(layers[0], layers[0].extent())
        extent.scale(1.05)
        canvas.setExtent(extent)
    canvas.refresh()
    canvas.waitWhileRendering()
    QgsApplication.processEvents()
    canvas.waitWhileRendering()
    save(iface.mainWindow(), "trend_result.png")
    # each loaded layer alone on the canvas
    root = QgsProject.instance().layerTreeRoot()
    for i, layer in enumerate(layers):
        for other in layers:
            root.findLayer(other.id()).setItemVisibilityChecked(other is layer)
        canvas.refreshAllLayers()
        canvas.waitWhileRendering()
        QgsApplication.processEvents()
        canvas.waitWhileRendering()
        slug = "".join(c if c.isalnum() else "_" for c in layer.name().lower()).strip("_")
        save(canvas, f"map_{i + 1}_{slug[:40]}.png")


def finish():
    log(f"done in {time.time() - state['t0']:.0f} s")
    open(os.path.join(OUT, "done"), "w").close()
    QgsProject.instance().setDirty(False)
    QgsProject.instance().clear()
    os._exit(0)  # no "save the project?" question, no shutdown to wait for


# (function, seconds to wait after it, or a condition polled every second before the next step)
STEPS = [
    (toolbox, 3), (toolbox_shot, 0.5),
    (lambda: dialog("ecoresp:partition", {"INPUT": TOWER}, "partition_dialog"), 3),
    (lambda: dialog_shot("partition_dialog"), 0.5),
    (lambda: dialog("ecoresp:trend", {"INPUT_FILE": IBERIA, "VARIABLE": "tas",
                                                "AGGREGATE": "annual mean"}, "trend_dialog"), 3),
    (lambda: dialog_shot("trend_dialog", close=False), 0.5),
    (run_trend, trend_done), (trend_result, 5), (trend_map_shot, 0.5),
    (finish, 0),
]


def step(i=0):
    if i >= len(STEPS):
        return
    func, wait = STEPS[i]
    try:
        log(f"step {i + 1}: {getattr(func, '__name__', '')}")
        func()
    except Exception:  # noqa: BLE001 - log it, go on with the next screenshot
        log(traceback.format_exc())
    if callable(wait):
        poll(i + 1, wait)
    else:
        QTimer.singleShot(int(wait * 1000), lambda: step(i + 1))


def poll(i, condition):
    try:
        ready = condition()
    except Exception:  # noqa: BLE001 - the step before failed: go on
        log(traceback.format_exc())
        ready = True
    if ready:
        QTimer.singleShot(2000, lambda: step(i))
    else:
        QTimer.singleShot(1000, lambda: poll(i, condition))


os.makedirs(OUT, exist_ok=True)
log(f"QGIS {__import__('qgis.core').core.Qgis.QGIS_VERSION}, output {OUT}")
QTimer.singleShot(5000, step)
