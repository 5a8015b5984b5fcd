"""Grouped cross-validation folds: GroupKFold's rule, the same on every installation."""

import numpy as np
import pytest

from ecoresp_core.errors import InputError
from ecoresp_core.common.folds import grouped_folds


def test_worked_example():
    """Sites by decreasing size (ties by name) to the lightest fold: A(4)->0, B(3)->1, C(3)->2,
    D(2)->1 (folds 1 and 2 both hold 3 rows: the lower number), E(1)->2."""
    groups = np.array(list("AAAABBBCCCDDE"))
    folds = grouped_folds(groups, 3)
    tests = [sorted(set(groups[te])) for _, te in folds]
    assert tests == [["A"], ["B", "D"], ["C", "E"]]
    for tr, te in folds:
        assert sorted(np.concatenate([tr, te]).tolist()) == list(range(len(groups)))
        assert np.all(np.diff(te) > 0) and not set(groups[tr]) & set(groups[te])


def test_independent_of_row_order_and_matches_groupkfold_without_ties():
    rng = np.random.default_rng(3)
    sizes = rng.permutation(np.arange(1, 31))  # 30 sites, all sizes different: no ties
    groups = np.repeat([f"S{i:02d}" for i in range(30)], sizes)
    ours = [set(groups[te]) for _, te in grouped_folds(groups, 5)]
    perm = rng.permutation(len(groups))
    shuffled = [set(groups[perm][te]) for _, te in grouped_folds(groups[perm], 5)]
    assert ours == shuffled
    from sklearn.model_selection import GroupKFold
    theirs = [set(groups[te]) for _, te in GroupKFold(5).split(groups, groups, groups)]
    assert sorted(map(sorted, ours)) == sorted(map(sorted, theirs))


def test_too_few_groups():
    with pytest.raises(InputError, match="2 sites: need at least 5"):
        grouped_folds(["a", "b", "a"], 5)
