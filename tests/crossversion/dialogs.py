"""Open every ecoresp algorithm's and shipped model's Processing dialog as the desktop does and
save a picture of each (offscreen Qt, no display needed), then run ecoresp:trend from its dialog
(parameters set in the widgets, Run as the button does: a background task, results loaded into
the project), to check the dialogs on a QGIS version.

    QT_QPA_PLATFORM=offscreen python3 tests/crossversion/dialogs.py OUTDIR [ALG_ID ...]

Prints one line per dialog (its id, the number of widgets, the PNG written) and one for the run
(its results and the layers it added). Exits 1 when a dialog cannot be built or the run fails."""

import os
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def start_qgis():
    """(application, provider): a QGIS application with Processing and the plugin of this checkout
    registered (also used by tests/qgis/test_gridded_dialogs.py's child process)."""
    from qgis.core import QgsApplication
    app = QgsApplication([], True)
    app.initQgis()
    parent = tempfile.mkdtemp(prefix="ecoresp-plugin-")
    os.symlink(REPO, os.path.join(parent, "ecoresp"))
    sys.path.insert(0, parent)
    sys.path.append("/usr/share/qgis/python/plugins")
    from processing.core.Processing import Processing
    Processing.initialize()
    from ecoresp.provider.provider import EcorespProvider
    provider = EcorespProvider()  # kept by the caller: the registry does not own a Python provider
    QgsApplication.processingRegistry().addProvider(provider)
    return app, provider


def main(out, ids):
    from qgis.core import QgsApplication
    app, provider = start_qgis()
    from qgis.PyQt.QtWidgets import QWidget
    os.makedirs(out, exist_ok=True)
    ids = ids or sorted(a.id() for a in provider.algorithms())
    failed = 0
    for alg_id in ids:
        try:
            from processing.gui.AlgorithmDialog import AlgorithmDialog
            dlg = AlgorithmDialog(QgsApplication.processingRegistry().createAlgorithmById(alg_id), False, None)
            dlg.resize(900, 1000)
            dlg.show()
            app.processEvents()
            n = len(dlg.findChildren(QWidget))
            png = os.path.join(out, alg_id.replace(":", "_") + ".png")
            dlg.grab().save(png)
            print(f"{alg_id}: dialog with {n} widgets -> {png}")
            dlg.close()
        except Exception as exc:  # report and go on: every dialog is checked
            failed += 1
            print(f"{alg_id}: FAILED {type(exc).__name__}: {exc}")
    from qgis.core import Qgis
    print(f"dialogs: {len(ids) - failed} built, {failed} failed (QGIS {Qgis.QGIS_VERSION})")
    ok = run_trend_dialog(app, out)
    refuse_in_trend_dialog(app, out)
    return 1 if failed or not ok else 0


def run_trend_dialog(app, out):
    """ecoresp:trend on the bundled CRU TS file, run from its dialog as a user clicks Run."""
    import time

    from processing.gui.AlgorithmDialog import AlgorithmDialog
    from qgis.core import QgsApplication, QgsProject
    dlg = AlgorithmDialog(QgsApplication.processingRegistry().createAlgorithmById("ecoresp:trend"), False, None)
    dlg.setParameters({"INPUT_FILE": os.path.join(REPO, "tests", "data", "cru_ts400_iberia_1981-2010_monthly.nc"),
                       "VARIABLE": "tas", "AGGREGATE": 1, "OUTPUT": os.path.join(out, "tas_trend.tif"),
                       "CLASSES": os.path.join(out, "tas_trend_classes.tif")})
    done = {}
    dlg.algorithmFinished.connect(lambda ok, res: done.update(ok=ok, results=res))
    dlg.show()
    dlg.runAlgorithm()
    t0 = time.time()
    while "ok" not in done and time.time() - t0 < 300:
        app.processEvents()
        time.sleep(0.05)
    layers = sorted(lyr.name() for lyr in QgsProject.instance().mapLayers().values())
    print(f"trend dialog run: ok={done.get('ok')} results={done.get('results')} layers={layers}")
    for group in QgsProject.instance().layerTreeRoot().children():  # how they were loaded: group, renderer
        for node in getattr(group, "children", list)():
            print(f"loaded in {group.name()!r}: {node.name()!r} as {node.layer().renderer().type()}")
    return bool(done.get("ok"))


def refuse_in_trend_dialog(app, out):
    """Run clicked in ecoresp:trend's dialog with the output on the input file: the message box the
    user sees (QMessageBox.warning, replaced here by a recorder: offscreen it would block)."""
    import shutil

    import processing.gui.AlgorithmDialog as dialog_module
    from qgis.core import QgsApplication
    series = os.path.join(out, "series_copy.nc")
    shutil.copy(os.path.join(REPO, "tests", "data", "cru_ts400_iberia_1981-2010_monthly.nc"), series)
    before = os.path.getsize(series), os.path.getmtime(series)
    shown = []
    boxes = dialog_module.QMessageBox
    original = boxes.warning
    boxes.warning = staticmethod(lambda parent, title, text, *args: shown.append(f"{title}: {text}"))
    try:
        dlg = dialog_module.AlgorithmDialog(
            QgsApplication.processingRegistry().createAlgorithmById("ecoresp:trend"), False, None)
        dlg.setParameters({"INPUT_FILE": series, "VARIABLE": "tas", "OUTPUT": series})
        dlg.show()
        dlg.runAlgorithm()
        app.processEvents()
        dlg.close()
    finally:
        boxes.warning = original
    same = (os.path.getsize(series), os.path.getmtime(series)) == before
    print(f"trend dialog refused: {shown!r}; input unchanged: {same}")


if __name__ == "__main__":
    code = main(sys.argv[1], sys.argv[2:])
    sys.stdout.flush()
    os._exit(code)  # skip Python's teardown of Qt/QGIS objects (it can crash after a task has run)
