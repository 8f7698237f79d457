"""The reference Half-Space Trees: on flat numpy arrays, score-for-score equal to river's.

The production stack walks the same forest (:mod:`detectors.forest`) with
:func:`detectors.compiled.walk_forest`, on half the masses; this model keeps every node's mass,
as river does, and bridges the two in the tests (river is the oracle).

The forest is four 2-D arrays (one row per tree, nodes in heap order: the children of node ``i``
are ``2i + 1`` and ``2i + 2``), and one compiled kernel walks every tree for a point. Trees are
grown with the same random draws, in the same order, as ``river.anomaly.HalfSpaceTrees``, so for a
given seed both models hold the same splits and return the same scores.

The kernel is compiled by numba (about 1 s on first use, then cached in ``__pycache__``): a
numpy walk vectorised across trees is slower than river's plain Python at these sizes.

Trees depend only on the seed and the parameters, so models with a seed share one read-only copy
of their splits per process (a forest of 10 trees of height 8 holds 23 KiB of splits; a stack per
series would otherwise repeat them for every series); only the masses are per model.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from river import base

from detectors.forest import grow_forest as _grow_forest_arrays
from detectors.forest import shared_forest as _shared_forest

__all__ = ["HalfSpaceTrees"]


@njit(cache=True, nogil=True)
def _walk_forest(v, split_features, thresholds, l_mass, r_mass, height, size_limit, score, learn):
    """Walk each tree root to leaf along ``v``; return the summed mass score, update ``l_mass``.

    Scoring reads ``r_mass`` (the reference window) and stops a tree once a node holds fewer than
    ``size_limit`` points; learning counts the point in ``l_mass`` (the latest window) down to the
    leaf. Doing both in one walk is safe: learning only changes nodes already passed, and a missing
    value (NaN) is routed by the children's ``l_mass``, which the walk has not touched yet.
    Per-tree sums are added in tree order, as river does, so even rounded sums match.
    """
    total = 0.0
    for tree in range(split_features.shape[0]):
        node = 0
        depth_pow = 1
        tree_score = 0.0
        scoring = score
        for _ in range(height):
            if scoring:
                mass = r_mass[tree, node]
                tree_score += mass * depth_pow
                depth_pow *= 2
                if mass < size_limit:
                    scoring = False
                    if not learn:
                        break
            if learn:
                l_mass[tree, node] += 1
            left = 2 * node + 1
            value = v[split_features[tree, node]]
            if value < thresholds[tree, node]:
                node = left
            elif value != value:  # missing: follow the busier child, like river
                node = left + 1 if l_mass[tree, left] < l_mass[tree, left + 1] else left
            else:
                node = left + 1
        if scoring:
            tree_score += r_mass[tree, node] * depth_pow
        if learn:
            l_mass[tree, node] += 1
        total += tree_score
    return total


class HalfSpaceTrees(base.AnomalyDetector):
    """Half-Space Trees (HST) stored as numpy arrays, equal to ``river.anomaly.HalfSpaceTrees``.

    Each tree halves a random feature's range at a random point, ``height`` times down every
    path. Nodes count the points of two alternating windows: ``l_mass`` counts the window being
    learned, ``r_mass`` the previous, complete one. A point that lands in sparse regions of the
    reference window scores high. Every ``window_size`` learns the windows pivot; until the first
    pivot every score is 0.

    With the same seed, parameters and inputs, scores equal river's at every step: trees are grown
    from ``random.Random(seed)`` with river's draws in river's order (features taken in sorted
    name order, fixed at the first ``learn_one``), and walks, early stops at ``0.1 *
    window_size`` points, normalisation and flip follow river. A feature missing from ``x`` is
    routed to the child holding more of the current window, as in river. NaN values are treated
    as missing too; river instead sends a NaN right, because ``nan < t`` is false.

    Besides ``learn_one`` / ``score_one`` on dicts, ``learn_array``, ``score_array`` and
    ``score_then_learn`` take a 1-D float array in ``feature_names`` order. A model first fed an
    array of length ``n`` names its features ``0, ..., n - 1`` (so ``limits`` keys are ints).

    Parameters
    ----------
    n_trees
        Number of trees.
    height
        Height of each tree; a tree holds ``2 ** (height + 1) - 1`` nodes.
    window_size
        Number of observations per mass window.
    limits
        Range ``(low, high)`` of each feature by name; unlisted features range over ``[0, 1]``.
    seed
        Seed of the random number generator that grows the trees.

    Attributes
    ----------
    feature_names : tuple or None
        Feature order of the arrays, fixed at the first learn.
    split_features : numpy.ndarray
        ``(n_trees, 2 ** height - 1)`` index of the split feature of each inner node.
    thresholds : numpy.ndarray
        ``(n_trees, 2 ** height - 1)`` float64 split point of each inner node. With a seed, both
        arrays are read-only and shared by every model with the same seed and parameters.
    l_mass, r_mass : numpy.ndarray
        ``(n_trees, 2 ** (height + 1) - 1)`` point counts of the latest and reference windows,
        in the smallest unsigned integer type that holds ``window_size``.
    counter : int
        Points learned in the current window.

    Examples
    --------
    river's own example gives river's own scores:

    >>> from tests.reference.hst import HalfSpaceTrees

    >>> X = [0.5, 0.45, 0.43, 0.44, 0.445, 0.45, 0.0]
    >>> hst = HalfSpaceTrees(n_trees=5, height=3, window_size=3, seed=42)
    >>> for x in X[:3]:
    ...     hst.learn_one({'x': x})  # warming up
    >>> for x in X:
    ...     features = {'x': x}
    ...     hst.learn_one(features)
    ...     print(f'Anomaly score for x={x:.3f}: {hst.score_one(features):.3f}')
    Anomaly score for x=0.500: 0.107
    Anomaly score for x=0.450: 0.071
    Anomaly score for x=0.430: 0.107
    Anomaly score for x=0.440: 0.107
    Anomaly score for x=0.445: 0.107
    Anomaly score for x=0.450: 0.071
    Anomaly score for x=0.000: 0.853

    On a stream, score each point before learning it, here in one walk over the trees:

    >>> import numpy as np
    >>> rng = np.random.default_rng(7)
    >>> hst = HalfSpaceTrees(window_size=50, seed=42)
    >>> scores = [hst.score_then_learn(v) for v in rng.uniform(0.4, 0.6, size=(300, 2))]
    >>> scores[0], hst.feature_names
    (0.0, (0, 1))
    >>> round(hst.score_array(np.array([0.5, 0.5])), 2)  # in the dense region
    0.57
    >>> round(hst.score_array(np.array([0.05, 0.95])), 2)  # far from it
    0.99

    Models with the same seed and parameters share one read-only copy of their trees, also
    after a pickle round trip; each keeps its own masses:

    >>> import pickle
    >>> twin = pickle.loads(pickle.dumps(hst))
    >>> twin.thresholds is hst.thresholds, hst.thresholds.flags.writeable, twin.l_mass is hst.l_mass
    (True, False, False)

    References
    ----------
    Tan, S.C., Ting, K.M. and Liu, T.F., 2011. Fast anomaly detection for streaming data. In
    Proceedings of the Twenty-Second International Joint Conference on Artificial Intelligence
    (IJCAI), pp. 1511-1516. https://www.ijcai.org/Proceedings/11/Papers/254.pdf
    """

    def __init__(
        self,
        n_trees: int = 10,
        height: int = 8,
        window_size: int = 250,
        limits: dict[base.typing.FeatureName, tuple[float, float]] | None = None,
        seed: int | None = None,
    ):
        self.n_trees = n_trees
        self.height = height
        self.window_size = window_size
        self.limits = limits
        self.seed = seed

        self.feature_names: tuple | None = None
        self.split_features: np.ndarray | None = None
        self.thresholds: np.ndarray | None = None
        self.l_mass: np.ndarray | None = None
        self.r_mass: np.ndarray | None = None
        self.counter = 0
        self._first_window = True

    @property
    def size_limit(self) -> float:
        """Mass under which scoring stops descending a tree (0.1 of a window, from the paper)."""
        return 0.1 * self.window_size

    @property
    def _max_score(self) -> int:
        """The largest possible raw score: every node of every tree holding a full window."""
        return self.n_trees * self.window_size * (2 ** (self.height + 1) - 1)

    def _feature_limits(self) -> tuple[tuple[float, float], ...]:
        limits = self.limits or {}
        return tuple(tuple(limits.get(name, (0.0, 1.0))) for name in self.feature_names)

    def _grow_forest(self, feature_names) -> None:
        self.feature_names = tuple(feature_names)
        # A random seed grows a forest of its own; a fixed one, the forest every equal model has.
        grow = _grow_forest_arrays if self.seed is None else _shared_forest
        self.split_features, self.thresholds = grow(
            self.seed, self.n_trees, self.height, self._feature_limits()
        )
        # A window never holds more than window_size points: 8 bits for the default 250
        mass_dtype = np.min_scalar_type(self.window_size)
        n_nodes = 2 ** (self.height + 1) - 1
        self.l_mass = np.zeros((self.n_trees, n_nodes), dtype=mass_dtype)
        self.r_mass = np.zeros((self.n_trees, n_nodes), dtype=mass_dtype)

    def _after_restore(self) -> None:
        """Share the trees again after a snapshot or pickle round trip made private copies."""
        if self.seed is None or self.thresholds is None:
            return
        shared = _shared_forest(self.seed, self.n_trees, self.height, self._feature_limits())
        own = (self.split_features, self.thresholds)
        if all(_same(a, b) for a, b in zip(shared, own, strict=True)):
            self.split_features, self.thresholds = shared

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._after_restore()

    def _vector(self, x: dict) -> np.ndarray:
        nan = math.nan
        return np.array([x.get(name, nan) for name in self.feature_names], dtype=np.float64)

    def _checked(self, v) -> np.ndarray:
        """``v`` as float64, its length checked; the first array met names the features."""
        v = np.asarray(v, dtype=np.float64)
        if v.ndim != 1:
            raise ValueError(f"expected a 1-D array, got shape {v.shape}")
        if self.feature_names is None:
            self._grow_forest(range(len(v)))
        # The kernel does not bounds-check, so a short vector would read past its end
        if len(v) != len(self.feature_names):
            raise ValueError(
                f"expected {len(self.feature_names)} values in the order {self.feature_names}, "
                f"got {len(v)}"
            )
        return v

    def _walk(self, v: np.ndarray, score: bool, learn: bool) -> float:
        total = _walk_forest(
            v,
            self.split_features,
            self.thresholds,
            self.l_mass,
            self.r_mass,
            self.height,
            self.size_limit,
            score,
            learn,
        )
        if learn:
            self._count_one()
        # Normalise to [0, 1] and flip, so that sparse regions (low mass) score high
        return 1 - total / self._max_score

    def _count_one(self) -> None:
        self.counter += 1
        if self.counter == self.window_size:
            # The latest window becomes the reference; the old reference is reused, emptied
            self.l_mass, self.r_mass = self.r_mass, self.l_mass
            self.l_mass.fill(0)
            self._first_window = False
            self.counter = 0

    def learn_one(self, x: dict) -> None:
        """Count ``x`` in the current window; the first call grows the trees."""
        if self.feature_names is None:
            self._grow_forest(sorted(x))
        self._walk(self._vector(x), score=False, learn=True)

    def score_one(self, x: dict) -> float:
        """Anomaly score in [0, 1] of ``x`` against the reference window; 0 in the first window."""
        if self._first_window:
            return 0.0
        return self._walk(self._vector(x), score=True, learn=False)

    def learn_array(self, v: np.ndarray) -> None:
        """``learn_one`` for a 1-D float array in ``feature_names`` order."""
        self._walk(self._checked(v), score=False, learn=True)

    def score_array(self, v: np.ndarray) -> float:
        """``score_one`` for a 1-D float array in ``feature_names`` order."""
        if self._first_window:
            return 0.0
        return self._walk(self._checked(v), score=True, learn=False)

    def score_then_learn(self, v: np.ndarray) -> float:
        """Score ``v`` then learn it, in one walk; equals ``score_array`` then ``learn_array``."""
        v = self._checked(v)
        first_window = self._first_window
        score = self._walk(v, score=not first_window, learn=True)
        return 0.0 if first_window else score


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and np.array_equal(a, b)
