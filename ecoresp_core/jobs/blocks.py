"""Row blocks within a memory budget: the walk every raster job makes over its grid.

A job reads, computes and writes whole rows at a time; the block height is chosen so that
``rows * width * bytes_per_cell`` stays within the caller's budget (MB), so rasters larger than
memory work.  Progress is reported and Cancel honoured between blocks and, through the
sub-progress handed to the block's work, inside them (``common.progress.Progress``).
"""

from ..common.progress import Progress

DEFAULT_BUDGET_MB = 1024


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
