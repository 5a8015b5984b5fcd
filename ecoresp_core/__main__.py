"""``python -m ecoresp_core STEP --option value ...``: the heavy steps outside QGIS (``cube.cli``)."""

import sys

from .cube.cli import main

if __name__ == "__main__":
    sys.exit(main())
