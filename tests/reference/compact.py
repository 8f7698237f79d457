"""Values kept in float32, as offsets from an anchor: half the memory of float64 per value."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Float32Offsets", "to_float32"]

FLOAT32_MAX = float(np.finfo(np.float32).max)


def to_float32(x: float) -> float:
    """``x`` clamped to float32's finite range (NaN stays NaN), for storing in a float32 array:
    a value beyond it is kept as the largest float32 instead of an infinity, whose arithmetic
    would turn the next update into NaN.

    >>> to_float32(1e300), to_float32(-math.inf), to_float32(2.5), math.isnan(to_float32(math.nan))
    (3.4028234663852886e+38, -3.4028234663852886e+38, 2.5, True)
    """
    return max(-FLOAT32_MAX, min(FLOAT32_MAX, x)) if not math.isnan(x) else x


class Float32Offsets:
    """A fixed-length array of float values stored in float32 as offsets from an anchor, the
    first non-NaN value stored.

    A metric's values sit near each other more than near 0: a memory gauge moves by megabytes
    around 30 GB, a boot-time gauge is the same 1.7e9 for weeks. Their offsets from the first
    value keep float32's 7 digits for what varies (a constant reads back exactly, where 1.7e9 +
    1 in float32 would read back 1.7e9) at half the memory of float64. Reads return floats.

    Examples
    --------
    >>> values = Float32Offsets(3)
    >>> values[0] = 1_700_000_001.0
    >>> values[1] = 1_700_000_002.0
    >>> values[0], values[1], values.anchor
    (1700000001.0, 1700000002.0, 1700000001.0)
    >>> values[2] = 1_700_000_001.1  # within float32's relative precision of the offset
    >>> round(values[2] - 1_700_000_001.0, 4)
    0.1
    """

    def __init__(self, n: int):
        self.anchor = math.nan
        self._offsets = np.zeros(n, dtype=np.float32)

    def __len__(self) -> int:
        return len(self._offsets)

    def __getitem__(self, index: int) -> float:
        return self.anchor + self._offsets.item(index)

    def __setitem__(self, index: int, x: float) -> None:
        if math.isnan(self.anchor):
            self.anchor = x
        self._offsets[index] = to_float32(x - self.anchor)

    def push(self, x: float) -> None:
        """Append ``x`` at the end, dropping the first value (a window, newest last)."""
        offsets = self._offsets
        offsets[:-1] = offsets[1:]
        self[len(offsets) - 1] = x

    def copy(self) -> Float32Offsets:
        twin = Float32Offsets(0)
        twin.anchor, twin._offsets = self.anchor, self._offsets.copy()
        return twin
