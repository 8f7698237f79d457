"""Compiled helpers shared by the parts of the stack (:mod:`detectors.parts`).

The decorators every part's code uses (:data:`jit`, :data:`part`), the loop's plumbing
(:func:`borrowed` arrays, which cost no reference counting; :func:`switch`, which calls one of
several parts inlined), arithmetic written in the order of CPython and numpy (Python's ``max`` /
``min``, ``%``, ``round``, ``math.fsum``, numpy's pairwise sum: the readable reference in
``tests/reference`` computes with those, so the compiled stack equals it to the last bit in
most outputs), float32 storage, blocked maxima, and the one walk through a Half-Space-Trees
forest.

Errors follow numpy's model (``error_model="numpy"``): a division by zero gives inf or NaN
instead of raising.

Examples
--------
>>> import math
>>> py_max(math.nan, 1.0), py_max(1.0, 2.0), py_mod(-1.0, 3.0), py_round(2.5)
(nan, 2.0, 2.0, 2.0)
>>> import numpy as np
>>> fsum(np.array([1e16, 1.0, -1e16]), 3, np.zeros(3))
1.0
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core.caching import CompileResultCacheImpl, FunctionCache
from numba.extending import intrinsic

# Mean absolute deviation of a normal distribution is sigma * sqrt(2 / pi).
MAD_TO_SIGMA = math.sqrt(math.pi / 2)
UINT16_MAX = 65535
FLOAT32_MAX = float(np.finfo(np.float32).max)


def sources_digest(root: Path) -> bytes:
    """A hash of every Python source under ``root`` (names and contents).

    >>> sources_digest(Path(__file__).parent) == sources_digest(Path(__file__).parent)
    True
    """
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.digest()


# numba keys a cached function by its own file's contents only, but the stack's loop inlines
# the parts (and links the functions it calls) from other files: an edited part would leave the
# loop compiled from the old one in the cache. So every function of detectors/ is keyed by the
# sources of the whole package as well (the code of the installed package, read once).
_PACKAGE_DIGEST = sources_digest(Path(__file__).parent)


def _keyed_by_package(locator_class: type) -> type:
    class PackageLocator(locator_class):
        def get_source_stamp(self):
            return (super().get_source_stamp(), _PACKAGE_DIGEST)

    return PackageLocator


class _PackageCacheImpl(CompileResultCacheImpl):
    _locator_classes = [_keyed_by_package(c) for c in CompileResultCacheImpl._locator_classes]


class _PackageCache(FunctionCache):
    _impl_class = _PackageCacheImpl


def _compiler(**options):
    """numba's ``njit(cache=True, **options)``, its cache keyed by the package's sources."""
    compile_ = njit(cache=True, **options)

    def decorate(function):
        dispatcher = compile_(function)
        if isinstance(dispatcher._cache, FunctionCache):  # not when caching is off
            dispatcher._cache = _PackageCache(dispatcher.py_func)  # instead of numba's
        return dispatcher

    return decorate


#: A compiled function, cached beside its source, that releases the GIL.
jit = _compiler(nogil=True, error_model="numpy")
#: A part's function: inlined into the stack's loop when numba builds it (a call would pass the
#: state's dozens of arrays one by one, which costs more than most parts' work).
part = _compiler(nogil=True, error_model="numpy", inline="always")


def _without_owner(builder, value, typ):
    """``value`` of numba type ``typ`` with every array's owner (NRT meminfo) and parent
    pointers set to NULL, through nested tuples."""
    if isinstance(typ, types.Array):
        for field in (0, 1):  # an array's meminfo, then its parent object
            null = ir.Constant(value.type.elements[field], None)
            value = builder.insert_value(value, null, field)
        return value
    if isinstance(typ, types.BaseTuple):
        for k, item_type in enumerate(typ):
            item = _without_owner(builder, builder.extract_value(value, k), item_type)
            value = builder.insert_value(value, item, k)
    return value


@intrinsic
def borrowed(typingctx, value):
    """``value`` (an array, or a tuple of arrays and tuples) whose arrays are borrowed: the
    same memory without an owner, so that numba's reference counting of them costs nothing.

    numba counts references to an array's owner atomically each time a view or an attribute of
    a state tuple is taken, about a thousand times a point in the stack's loop (half its time,
    and two threads contend for the same counters). The caller must keep the arrays alive for
    as long as the borrowed ones are used: a compiled function's arguments are.
    """

    def codegen(context, builder, signature, args):
        return _without_owner(builder, args[0], signature.args[0])

    return value(value), codegen


@jit
def kept(value, result):
    """``result``; a use of ``value`` here keeps its arrays, borrowed before, alive until then
    (numba releases a variable after its last use)."""
    return result


def switch(functions: tuple, arguments: tuple[str, ...]):
    """A part ``switched(code, *arguments)`` returning ``functions[code](*arguments)`` (NaN for
    an unknown code): one branch per function, each inlined where the part is.

    Iterating over a tuple of functions (``literal_unroll``) calls them through pointers as
    numba's first-class functions, which are not inlined: every call then passes the whole
    state, hundreds of arguments.

    >>> twice = switch((py_max, py_min), ("a", "b"))
    >>> twice(0, 1.0, 2.0), twice(1, 1.0, 2.0), twice(2, 1.0, 2.0)
    (2.0, 1.0, nan)
    """
    names = ", ".join(arguments)
    lines = [f"def switched(code, {names}):"]
    for k in range(len(functions)):
        lines += [f"    if code == {k}:", f"        return case_{k}({names})"]
    lines.append("    return math.nan")
    namespace = {"math": math, **{f"case_{k}": f for k, f in enumerate(functions)}}
    exec("\n".join(lines), namespace)  # noqa: S102 (generated from the names above only)
    # Not cached (its source is generated); the cached functions that inline it hold its code.
    return njit(nogil=True, error_model="numpy", inline="always")(namespace["switched"])


@jit
def py_max(a, b):
    """Python's ``max(a, b)``: ``a`` unless ``b`` is greater (so a NaN ``a`` is kept)."""
    return b if b > a else a


@jit
def py_min(a, b):
    """Python's ``min(a, b)``: ``a`` unless ``b`` is smaller."""
    return b if b < a else a


@jit
def py_mod(a, b):
    """Python's float ``a % b`` (the sign of ``b``), as CPython's ``float_rem``."""
    mod = np.fmod(a, b)
    if mod != 0.0:
        if (b < 0.0) != (mod < 0.0):
            mod += b
    else:
        mod = math.copysign(0.0, b)
    return mod


@jit
def py_round(x):
    """Python's ``round(x)`` of a float: to the nearest integer, ties to even."""
    low = math.floor(x)
    fraction = x - low
    if fraction > 0.5 or (fraction == 0.5 and low % 2.0 != 0.0):
        return low + 1.0
    return low


@jit
def fsum(values, n, partials):
    """``math.fsum(values[:n])``: the correctly rounded sum (CPython's ``math_fsum``).

    ``partials`` is scratch space of at least ``n`` floats. Where CPython raises (``inf - inf``,
    an intermediate overflow) this returns NaN or the infinite sum.

    A compensated sum comes first: ``s`` plus the exact errors of its additions is the exact
    sum; their float sum ``e`` is off by at most ``n * 2**-53`` times the errors' magnitudes
    (doubled here, for the rounding of that bound). When ``s + e`` (exactly ``r + tail``) is
    farther than that from the half-way points around ``r``, ``r`` is the correctly rounded
    sum, fsum's result; otherwise (a tie, zero, anything not finite) the full algorithm runs.
    """
    s = 0.0
    e = 0.0
    magnitude = 0.0
    for k in range(n):
        x = values[k]
        t = s + x
        z = t - s
        error = (s - (t - z)) + (x - z)  # Knuth's TwoSum: s + x == t + error exactly
        s = t
        e += error
        magnitude += abs(error)
    r = s + e
    z = r - s
    tail = (s - (r - z)) + (e - z)
    bound = magnitude * (2.0 * (n + 2)) * 1.1102230246251565e-16  # 2 (n + 2) 2 ** -53
    if r != 0.0 and math.isfinite(r) and math.isfinite(tail) and math.isfinite(bound):
        above = (np.nextafter(r, math.inf) - r) * 0.5
        below = (r - np.nextafter(r, -math.inf)) * 0.5
        if tail + bound < above and bound - tail < below:
            return r
    m = 0
    special_sum = 0.0
    for k in range(n):
        x = values[k]
        x_saved = x
        i = 0
        for j in range(m):
            y = partials[j]
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            lo = y - (hi - x)
            if lo != 0.0:
                partials[i] = lo
                i += 1
            x = hi
        m = i
        if x != 0.0:
            if not math.isfinite(x):
                special_sum += x_saved
                m = 0
            else:
                partials[m] = x
                m += 1
    if special_sum != 0.0:
        return special_sum
    hi = 0.0
    if m > 0:
        m -= 1
        hi = partials[m]
        lo = 0.0
        while m > 0:
            x = hi
            m -= 1
            y = partials[m]
            hi = x + y
            lo = y - (hi - x)
            if lo != 0.0:
                break
        # Half-even rounding across several partials, as CPython does.
        if m > 0 and ((lo < 0.0 and partials[m - 1] < 0.0) or (lo > 0.0 and partials[m - 1] > 0.0)):
            y = lo * 2.0
            x = hi + y
            if y == x - hi:
                hi = x
    return hi


@jit
def _pairwise_block(values, start, n):
    """numpy's pairwise sum of at most 128 values: eight running sums, then the rest."""
    if n < 8:
        total = 0.0
        for k in range(n):
            total += values[start + k]
        return total
    r0, r1, r2, r3 = values[start], values[start + 1], values[start + 2], values[start + 3]
    r4, r5, r6, r7 = values[start + 4], values[start + 5], values[start + 6], values[start + 7]
    k = 8
    while k < n - n % 8:
        r0 += values[start + k]
        r1 += values[start + k + 1]
        r2 += values[start + k + 2]
        r3 += values[start + k + 3]
        r4 += values[start + k + 4]
        r5 += values[start + k + 5]
        r6 += values[start + k + 6]
        r7 += values[start + k + 7]
        k += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while k < n:
        total += values[start + k]
        k += 1
    return total


@jit
def numpy_pairwise_sum(values, start, n):
    """``np.add.reduce(values[start:start + n])`` for float64: numpy's pairwise summation.

    Longer runs are halved (at a multiple of 8) until blocks of at most 128 values; the halving
    runs on an explicit stack, as numba cannot load a recursive function from its cache.
    """
    if n <= 128:
        return _pairwise_block(values, start, n)
    starts = np.empty(64, dtype=np.int64)
    lengths = np.empty(64, dtype=np.int64)
    stages = np.zeros(64, dtype=np.int64)  # 0: sum the left half, 1: the right, 2: add them
    lefts = np.empty(64)
    top = 0
    starts[0], lengths[0] = start, n
    returned = 0.0
    while top >= 0:
        at, length = starts[top], lengths[top]
        if length <= 128:
            returned = _pairwise_block(values, at, length)
            top -= 1
            continue
        half = length // 2
        half -= half % 8
        if stages[top] == 0:
            stages[top] = 1
            top += 1
            starts[top], lengths[top], stages[top] = at, half, 0
        elif stages[top] == 1:
            lefts[top] = returned
            stages[top] = 2
            top += 1
            starts[top], lengths[top], stages[top] = at + half, length - half, 0
        else:
            returned = lefts[top] + returned
            top -= 1
    return returned


@jit
def evidence_decades(tail_probability, score_decades):
    """Decades of improbability over ``score_decades``, at least 0 and not capped at 1 (the
    combined evidence, which the recalibrator ranks beyond 1)."""
    return py_max(0.0, -math.log10(py_max(tail_probability, 1e-300)) / score_decades)


@jit
def decades(tail_probability, score_decades):
    """``DetectorStack.decades``: decades of improbability over ``score_decades``, in [0, 1]."""
    return py_min(1.0, evidence_decades(tail_probability, score_decades))


@jit
def to_float32(x):
    """``compact.to_float32``: ``x`` clamped to float32's finite range (NaN stays NaN)."""
    if x > FLOAT32_MAX:
        return FLOAT32_MAX
    if x < -FLOAT32_MAX:
        return -FLOAT32_MAX
    return x


@part
def load_offset(anchor, pool, at):
    """``Float32Offsets[i]``: the pool's float32 offset at ``at`` plus its ``anchor``."""
    return anchor + np.float64(pool[at])


@part
def store_offset(anchors, slot, pool, at, x):
    """``Float32Offsets[i] = x`` with the anchor ``anchors[slot]``: the first value stored
    becomes the anchor."""
    anchor = anchors[slot]
    if math.isnan(anchor):
        anchor = x
        anchors[slot] = x
    pool[at] = to_float32(x - anchor)


@part
def blocked_max(highs, n):
    """``BlockedMax.max`` of the block maxima ``highs`` after ``n`` values."""
    return highs.max() if n > 0 else -math.inf


@part
def blocked_update(highs, n, block_size, x):
    """``BlockedMax.update`` of the block maxima ``highs`` after ``n`` values (x not NaN)."""
    at = n // block_size % highs.shape[0]
    if n % block_size == 0:  # a new block replaces the oldest
        highs[at] = x
    else:
        highs[at] = py_max(highs[at], x)


@jit
def walk_forest(
    v, split_features, thresholds, l_left, l_root, r_left, r_root, height, size_limit, score
):
    """Walk each tree of a Half-Space-Trees forest (:mod:`detectors.forest`) root to leaf along
    ``v``: score ``v`` against the reference window, then count it in the latest one.

    Scoring sums, per tree, each node's reference mass times 2 ** depth and stops a tree once a
    node holds fewer than ``size_limit`` points (Tan et al. 2011; per-tree sums are added in
    tree order, as river does). Learning only changes nodes already passed, and a missing
    value (NaN) follows the busier child of the latest window, as river's does.

    Every point a window learns is counted at every node down to a leaf, so a node's mass is
    the sum of its children's: storing, for each inner node, only its left child's mass
    (``l_left`` / ``r_left``, ``(n_trees, 2 ** height - 1)``) and the root's (``l_root``:
    points learned in the current window; ``r_root``: a full window) keeps every mass, in half
    the memory. The walk carries the current node's masses down: the right child's is the
    node's minus the left child's. Scores and routing are then those of the full arrays.
    """
    # Masses times powers of two: integers, summed exactly (as river's float sums of them are,
    # below 2 ** 53), so in int64, converted once. Nodes are unsigned: numba then tests no
    # index for wraparound.
    one, two = np.uint64(1), np.uint64(2)
    total = 0
    for tree in range(split_features.shape[0]):
        node = np.uint64(0)
        depth_pow = 1
        tree_score = 0
        scoring = score
        r_mass = r_root  # the current node's masses (l_mass before this point is counted)
        l_mass = l_root
        for _ in range(height):
            if scoring:
                tree_score += r_mass * depth_pow
                depth_pow *= 2
                if r_mass < size_limit:
                    scoring = False
            left_mass = np.int64(l_left[tree, node])
            value = v[split_features[tree, node]]
            # Below the split goes left; a missing value (NaN) follows the busier child, like river
            if value < thresholds[tree, node] or (
                value != value and not left_mass < l_mass - left_mass
            ):
                l_left[tree, node] = left_mass + 1
                l_mass = left_mass
                r_mass = np.int64(r_left[tree, node])
                node = two * node + one
            else:
                l_mass -= left_mass
                r_mass -= np.int64(r_left[tree, node])
                node = two * node + two
        if scoring:
            tree_score += r_mass * depth_pow
        total += tree_score
    return float(total)
