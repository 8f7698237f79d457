"""The compiled kernel loads from numba's cache instead of compiling at every start.

numba keys a cached kernel by the types of its arguments, pickled: a namedtuple class (a
part's ``State`` or ``Constants``) that pickle cannot find by its module and name is pickled by
value, comes back as a new class, never equals the live one, and so the kernel (about half a
minute of compiling) is compiled again in every process. A part's namedtuples must therefore be
named as the module attributes that hold them.
"""

import pickle

import pytest

from detectors import kernel
from detectors.kernel import DETECTORS, PARTS, part_name

ARGUMENT_TYPES = [
    *(getattr(m, name) for m in (*PARTS, *DETECTORS) for name in ("State", "Constants") if
      hasattr(m, name)),
    kernel.State, kernel.Params, kernel.Outputs, kernel.Point, kernel.Scratch,
]  # fmt: skip


@pytest.mark.parametrize("cls", ARGUMENT_TYPES, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_kernel_argument_types_pickle_by_reference(cls):
    assert pickle.loads(pickle.dumps(cls)) is cls


def test_every_part_has_its_state_type():
    assert all(hasattr(m, "State") and hasattr(m, "Constants") for m in PARTS), [
        part_name(m) for m in PARTS if not hasattr(m, "State")
    ]
