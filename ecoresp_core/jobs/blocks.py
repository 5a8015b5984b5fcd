"""Row blocks within a memory budget: the walk every raster job makes over its grid.

A job reads, computes and writes whole rows at a time; the block height is chosen so that
``rows * width * bytes_per_cell`` stays within the caller's budget (MB), so rasters larger than
memory work.  Progress is reported and Cancel honoured between blocks and, through the
sub-progress handed to the block's work, inside them (``common.progress.Progress``).
"""

import contextlib

from ..common.progress import Progress

try:
    from osgeo import gdal
except ImportError:  # pragma: no cover - the core's array functions work without GDAL
    gdal = None

DEFAULT_BUDGET_MB = 1024
TILE = 256  # the tile width of ecoresp's GeoTIFF outputs (io.series.SeriesWriter)


def gdal_cache_mb(budget_mb):
    """The part of a job's memory budget (MB) given to GDAL's block cache, which holds the
    blocks GDAL reads and the output tiles not yet complete: a quarter, from 16 to 512 MB. The
    row blocks get the rest, so that the whole run stays within the budget."""
    return float(min(max(16.0, 0.25 * float(budget_mb)), 512.0))


def output_tile_rows(cache_mb, width, n_bands, n_outputs=2):
    """The tile height (rows, a multiple of 16, 16..256) of an output of ``n_bands`` bands and
    ``width`` columns such that one row of tiles of ``n_outputs`` such outputs takes at most half
    of a GDAL cache of ``cache_mb``: row blocks shorter than a tile then fill its tiles in the
    cache instead of writing, re-reading and recompressing them (many times slower)."""
    padded = -(-int(width) // TILE) * TILE
    rows = int(0.5 * cache_mb * 2 ** 20 // max(padded * int(n_bands) * 4 * n_outputs, 1))
    return max(16, min(TILE, rows // 16 * 16))


@contextlib.contextmanager
def gdal_cache(cache_mb):
    """GDAL's block cache set to ``cache_mb`` within the block, restored after (process-wide)."""
    if gdal is None:
        yield
        return
    before = gdal.GetCacheMax()
    gdal.SetCacheMax(int(cache_mb * 2 ** 20))
    try:
        yield
    finally:
        gdal.SetCacheMax(before)


def row_blocks(height, width, bytes_per_cell, budget_mb=DEFAULT_BUDGET_MB):
    """Row ranges ``[(row0, row1), ...]`` covering ``height`` rows.

    Parameters
    ----------
    height, width : int
        Raster size in cells.
    bytes_per_cell : float
        Working memory one cell of a block needs (bytes, all time steps and outputs).
    budget_mb : float
        Memory budget of one block (MB, at least 1); a block has at least one row.
    """
    budget = max(float(budget_mb), 1.0) * 2 ** 20
    rows = int(budget // max(width * bytes_per_cell, 1))
    rows = max(1, min(height, rows))
    return [(r, min(r + rows, height)) for r in range(0, height, rows)]


def run_row_blocks(height, width, bytes_per_cell, work, progress=None, budget_mb=DEFAULT_BUDGET_MB):
    """Call ``work(row0, row1, sub_progress)`` for each block of ``row_blocks``.

    Progress is reported after each block and ``Cancelled`` raised between blocks (and, through
    ``sub_progress``, inside them).  Returns the number of blocks.
    """
    progress = progress or Progress()
    blocks = row_blocks(height, width, bytes_per_cell, budget_mb)
    for i, (r0, r1) in enumerate(blocks):
        progress.check()
        work(r0, r1, progress.sub(i / len(blocks), (i + 1) / len(blocks)))
        progress.step((i + 1) / len(blocks))
    return len(blocks)
