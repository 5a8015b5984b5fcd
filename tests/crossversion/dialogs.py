"""Open every ecoresp algorithm's and shipped model's Processing dialog as the desktop does and
save a picture of each (offscreen Qt, no display needed), to check the dialogs on a QGIS version.

    QT_QPA_PLATFORM=offscreen python3 tests/crossversion/dialogs.py OUTDIR [ALG_ID ...]

Prints one line per dialog: its id, the number of parameter widgets and the PNG written. Exits 1
when a dialog cannot be built."""

import os
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(out, ids):
    from qgis.core import QgsApplication
    from qgis.gui import QgsGui  # noqa: F401  (widgets registry)
    app = QgsApplication([], True)
    app.initQgis()
    parent = tempfile.mkdtemp(prefix="ecoresp-plugin-")
    os.symlink(REPO, os.path.join(parent, "ecoresp"))
    sys.path.insert(0, parent)
    sys.path.append("/usr/share/qgis/python/plugins")
    from processing.core.Processing import Processing
    Processing.initialize()
    from ecoresp.provider.provider import EcorespProvider
    provider = EcorespProvider()
    QgsApplication.processingRegistry().addProvider(provider)
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
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
