"""Cross-validation folds that keep groups (sites, months) whole, the same on every installation."""

import numpy as np

from ..errors import InputError


def grouped_folds(groups, n_splits, what="sites"):
    """[(train_index, test_index), ...] for ``n_splits`` folds that keep each group (site) whole.

    The rule of GroupKFold, made independent of library versions and of the row order: sites
    are taken by decreasing number of rows, equal counts by site name, and each goes to the fold
    with the fewest rows so far (the lowest fold number on a tie). Test folds come in fold order
    and the indices are increasing."""
    groups = np.asarray(groups).astype(str)
    names, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    if n_splits < 2 or len(names) < n_splits:
        raise InputError(f"{len(names)} {what}: need at least {max(n_splits, 2)} for {n_splits}-fold "
                         "grouped cross-validation")
    order = sorted(range(len(names)), key=lambda i: (-int(counts[i]), str(names[i])))
    fold_of = np.empty(len(names), dtype=np.int64)
    load = [0] * n_splits
    for i in order:
        k = min(range(n_splits), key=lambda j: (load[j], j))
        fold_of[i] = k
        load[k] += int(counts[i])
    row_fold = fold_of[inverse.reshape(-1)]
    idx = np.arange(len(groups))
    return [(idx[row_fold != k], idx[row_fold == k]) for k in range(n_splits)]
