"""How a part of the stack declares its per-series state, and how the bank lays it out.

A part (a module of :mod:`detectors.parts`) declares its state once, as a tuple of
:class:`Field`: a name, a numpy dtype, the shape of one series' value (from the part's
constants) and the value of a new series. From these declarations alone come the part's
``State`` type (a namedtuple with one array per field and one row per series, which the
compiled code reads as ``st.zscore.mean[slot]``), a new series' values, the bytes a series
takes, and the names under which a series' state is exported (``"zscore.mean"``).

Examples
--------
>>> import numpy as np
>>> FIELDS = (Field("mean", "f8"), Field("window", "f8", lambda c: (c,), initial=np.nan))
>>> State = state_type("Example", FIELDS, __name__)
>>> st = allocate(State, FIELDS, 3, capacity=2)
>>> st.mean.shape, st.window.shape, bool(np.isnan(st.window).all())
((2,), (2, 3), True)
>>> row_bytes(FIELDS, 3)
32
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable

import numpy as np

__all__ = ["Field", "allocate", "grow", "row_bytes", "row_shapes", "state_type"]


@dataclasses.dataclass(frozen=True)
class Field:
    """One named piece of a part's per-series state.

    ``shape`` is the shape of one series' value: ``()`` for a number, or a function of the
    part's constants (its compiled parameters) for an array. ``initial`` is a new series' value.
    """

    name: str
    dtype: str | Callable
    shape: tuple | Callable = ()
    initial: float = 0.0
    doc: str = ""

    def shape_for(self, constants) -> tuple:
        return tuple(self.shape(constants)) if callable(self.shape) else tuple(self.shape)

    def dtype_for(self, constants) -> np.dtype:
        return np.dtype(self.dtype(constants) if callable(self.dtype) else self.dtype)


def state_type(name: str, fields: tuple[Field, ...], module: str) -> type:
    """The namedtuple holding a part's state arrays, one per field (defined once per module, so
    that numba's cache and pickling find it by name)."""
    return collections.namedtuple(name, [f.name for f in fields], module=module)


def row_shapes(fields: tuple[Field, ...], constants) -> dict[str, tuple[tuple, np.dtype]]:
    """Shape and dtype of one series' value of each field."""
    return {f.name: (f.shape_for(constants), f.dtype_for(constants)) for f in fields}


def allocate(state: type, fields: tuple[Field, ...], constants, capacity: int):
    """A ``state`` of ``capacity`` new series."""
    arrays = {}
    for f in fields:
        shape, dtype = f.shape_for(constants), f.dtype_for(constants)
        arrays[f.name] = np.full((capacity, *shape), f.initial, dtype=dtype)
    return state(**arrays)


def grow(current, fields: tuple[Field, ...], constants, capacity: int):
    """``current`` with room for ``capacity`` series, the new ones new."""
    grown = allocate(type(current), fields, constants, capacity)
    for name in grown._fields:
        old = getattr(current, name)
        getattr(grown, name)[: len(old)] = old
    return grown


def row_bytes(fields: tuple[Field, ...], constants) -> int:
    """Bytes one series takes in a part's state."""
    return sum(
        int(np.prod(f.shape_for(constants), dtype=np.int64)) * f.dtype_for(constants).itemsize
        for f in fields
    )
