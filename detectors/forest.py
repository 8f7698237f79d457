"""The Half-Space-Trees forest (Tan et al. 2011), grown as river's ``HalfSpaceTrees`` grows it.

The forest is two 2-D arrays, one row per tree, nodes in heap order (the children of node ``i``
are ``2i + 1`` and ``2i + 2``): each inner node's split feature and threshold. Trees are grown with
the same random draws, in the same order, as river's, so for a given seed both models hold the
same splits (``tests/test_hst.py`` checks the scores against river through the reference in
``tests/reference/hst.py``). Trees depend only on the seed and the parameters, so every series
shares one read-only copy (:func:`shared_forest`); the walk is
:func:`detectors.compiled.walk_forest`.

Examples
--------
>>> split_features, thresholds = shared_forest(42, 2, 3, ((0.0, 1.0), (0.0, 1.0)))
>>> split_features.shape, bool(((0.15 <= thresholds[:, 0]) & (thresholds[:, 0] <= 0.85)).all())
((2, 7), True)
>>> shared_forest(42, 2, 3, ((0.0, 1.0), (0.0, 1.0)))[0] is split_features
True
"""

from __future__ import annotations

import functools
import random

import numpy as np

__all__ = ["PADDING", "grow_forest", "shared_forest"]

#: Share of a feature's range kept out of reach of a split, as in river's ``make_padded_tree``.
PADDING = 0.15


def _grow_tree(limits, height, rng, split_features, thresholds):
    """Draw one tree's splits into heap-ordered lists, consuming ``rng`` as river does.

    river grows its tree recursively, node, then left subtree, then right subtree; each node draws
    ``rng.choices`` (feature, weighted by its remaining range) then ``rng.uniform`` (threshold).
    Visiting the heap positions in that same pre-order makes the draws land on the same nodes.
    """
    features = range(len(limits))

    def grow(node, height):
        if height == 0:
            return
        on = rng.choices(population=features, weights=[hi - lo for lo, hi in limits])[0]
        lo, hi = limits[on]
        at = rng.uniform(lo + PADDING * (hi - lo), hi - PADDING * (hi - lo))
        split_features[node] = on
        thresholds[node] = at
        limits[on] = (lo, at)
        grow(2 * node + 1, height - 1)
        limits[on] = (at, hi)
        grow(2 * node + 2, height - 1)
        limits[on] = (lo, hi)

    grow(0, height)


def grow_forest(seed, n_trees, height, limits) -> tuple[np.ndarray, np.ndarray]:
    """``(split_features, thresholds)``, one row per tree, grown from ``random.Random(seed)``.

    ``limits`` holds the ``(low, high)`` range of each feature, in feature order.
    """
    rng = random.Random(seed)
    n_inner = 2**height - 1
    split_features = [0] * n_inner
    thresholds = [0.0] * n_inner
    features_rows, threshold_rows = [], []
    for _ in range(n_trees):
        _grow_tree(list(limits), height, rng, split_features, thresholds)
        features_rows.append(split_features.copy())
        threshold_rows.append(thresholds.copy())
    feature_dtype = np.min_scalar_type(max(len(limits) - 1, 0))
    return (
        np.array(features_rows, dtype=feature_dtype).reshape(n_trees, n_inner),
        np.array(threshold_rows, dtype=np.float64).reshape(n_trees, n_inner),
    )


@functools.lru_cache(maxsize=32)
def shared_forest(seed, n_trees, height, limits) -> tuple[np.ndarray, np.ndarray]:
    """:func:`grow_forest` for a fixed seed, grown once and shared read-only."""
    arrays = grow_forest(seed, n_trees, height, limits)
    for array in arrays:
        array.setflags(write=False)
    return arrays
