"""The compiled stack loads from numba's cache in every process after the first.

A part whose ``State`` or ``Constants`` namedtuple is named otherwise than its module binding
makes numba miss its cache in every new process: each start then compiles the whole stack
again (25-35 s on a loaded machine), long enough for a live process added to a consumer group
to miss its readiness deadline.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from detectors import kernel

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "sim" / "data" / "demo" / "data"


def test_every_part_names_its_state_and_constants_as_bound():
    for module in kernel.PARTS:
        for binding in ("State", "Constants"):
            value = getattr(module, binding, None)
            if value is not None:
                assert value.__name__ == binding, (module.__name__, value.__name__)


def _replay_cache_writes(out: Path) -> list[str]:
    env = {**os.environ, "NUMBA_DEBUG_CACHE": "1"}
    command = [sys.executable, "-m", "stream.cli", "replay", str(DEMO), "--out", str(out)]
    run = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    return [line for line in (run.stdout + run.stderr).splitlines() if "data saved" in line]


def test_a_second_process_compiles_nothing(tmp_path):
    _replay_cache_writes(tmp_path / "first")  # fills the cache if it was cold
    assert _replay_cache_writes(tmp_path / "second") == []
