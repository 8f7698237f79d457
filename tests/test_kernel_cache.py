"""The compiled kernel loads from numba's cache instead of compiling at every start.

numba keys a cached kernel by the types of its arguments, pickled: a namedtuple class (a
part's ``State`` or ``Constants``) that pickle cannot find by its module and name is pickled by
value, comes back as a new class, never equals the live one, and so the kernel (about half a
minute of compiling) is compiled again in every process. A part's namedtuples must therefore be
named as the module attributes that hold them.
"""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from detectors import compiled, kernel
from detectors.kernel import DETECTORS, PARTS, part_name

REPO = Path(__file__).resolve().parents[1]

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


def test_a_cached_kernel_is_keyed_by_every_source_of_the_package():
    """The loop inlines parts from other files: editing one must not load the loop compiled
    from the old one (numba alone keys a function by its own file)."""
    locator = kernel.process_points._cache._impl.locator
    own_file, package = locator.get_source_stamp()
    assert package == compiled.sources_digest(Path(compiled.__file__).parent)


def test_the_package_digest_follows_any_source(tmp_path):
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "hst.py").write_text("x = 1\n")
    before = compiled.sources_digest(tmp_path)
    (tmp_path / "parts" / "hst.py").write_text("x = 2\n")
    assert compiled.sources_digest(tmp_path) != before


DEMO = REPO / "sim" / "data" / "demo" / "data"


def _replay_cache_writes(out: Path) -> list[str]:
    env = {**os.environ, "NUMBA_DEBUG_CACHE": "1"}
    command = [sys.executable, "-m", "stream.cli", "replay", str(DEMO), "--out", str(out)]
    run = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    return [line for line in (run.stdout + run.stderr).splitlines() if "data saved" in line]


def test_a_second_process_compiles_nothing(tmp_path):
    _replay_cache_writes(tmp_path / "first")  # fills the cache if it was cold
    assert _replay_cache_writes(tmp_path / "second") == []


def test_with_caching_off_the_kernels_stay_uncached():
    """``stream.compile_cache`` turns caching off where nothing is writable: the package's
    cache must not come back then (it would fail for want of a place)."""
    script = (
        "from stream.compile_cache import _disable_caching\n"
        "_disable_caching()\n"
        "from detectors import kernel\n"
        "print(type(kernel.process_points._cache).__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert done.stdout.split() == ["NullCache"]
