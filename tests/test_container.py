"""``lookout`` run the way the image runs it: a read-only install, a user without a home.

numba's ``cache=True`` used to fail at import there (``cannot cache function '_walk_forest': no
locator available``), so ``docker compose up`` crash-looped. There is no Docker engine here, so
the tests build that situation by hand: the package copied into a root-owned folder with every
write bit removed, run by ``nobody`` (when the tests run as root) with ``HOME=/nonexistent``.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UNPRIVILEGED = "nobody"


def _world_reachable(path: Path) -> bool:
    """Whether any user may run ``path``: every folder above it searchable by others."""
    path = path.resolve()
    return path.is_file() and all(
        part.stat().st_mode & stat.S_IXOTH for part in [path, *path.parents]
    )


def _interpreter() -> str:
    """A Python of this version that an unprivileged user may run (ours may live in /root)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (sys.executable, f"/usr/bin/python{version}", shutil.which("python3")):
        if candidate and _world_reachable(Path(candidate)):
            return candidate
    pytest.fail(f"no Python {version} that an unprivileged user may run")


@pytest.fixture
def world_dir() -> Iterator[Path]:
    """A fresh folder under the temp folder that every user may read (pytest's are 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="lookout-container-"))
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:  # give the write bits back to remove it
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
    shutil.rmtree(folder)


def read_only_install(root: Path, packages: dict[str, Path]) -> Path:
    """Copy ``packages`` (name -> source folder) into ``root/site``, owned by the current user
    (root), without any write bit: numba cannot cache beside the sources there."""
    site = root / "site"
    for name, source in packages.items():
        shutil.copytree(source, site / name, ignore=shutil.ignore_patterns("__pycache__"))
    for path in [site, *site.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return site


def run_unprivileged(command: list[str], site: Path, cwd: Path, **env: str):
    """Run ``command`` as ``nobody`` (if we are root) without a home, importing ``site`` first
    and the dependencies from our environment; the ``.pth`` files of our editable install are
    not read (only site folders read them), so our own sources stay out of reach."""
    dependencies = sysconfig.get_paths()["purelib"]
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/nonexistent",
        "PYTHONPATH": f"{site}{os.pathsep}{dependencies}",
        **env,
    }
    prefix = ["env", "-i", *(f"{key}={value}" for key, value in environment.items())]
    if os.geteuid() == 0:
        drop = ["setpriv", "--reuid", UNPRIVILEGED, "--regid", "nogroup", "--clear-groups"]
        prefix = drop + prefix
    return subprocess.run([*prefix, *command], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_lookout_replay_runs_from_a_read_only_install_without_a_home(world_dir):
    site = read_only_install(
        world_dir, {name: REPO / name for name in ("detectors", "stream", "sim")}
    )
    scratch = world_dir / "scratch"  # the only writable place: the user's temp folder
    scratch.mkdir(mode=0o777)
    scratch.chmod(0o777)
    out = scratch / "results"
    command = [_interpreter(), "-m", "stream.cli", "replay", "--out", str(out), "--no-progress"]
    done = run_unprivileged(command, site, cwd=scratch, TMPDIR=str(scratch))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "no locator" not in done.stderr
    assert "points" in done.stdout
    assert len(list(out.rglob("*.csv"))) == 3 and (out / "alerts.jsonl").is_file()
    # The kernels were cached in a private folder of that user, not beside the sources.
    cache = [p for p in scratch.iterdir() if p.name.startswith("lookout-numba-")]
    assert len(cache) == 1 and stat.S_IMODE(cache[0].stat().st_mode) == 0o700
    assert list(cache[0].rglob("*.nbi"))
    assert not list(site.rglob("*.nbi"))


KERNELS = """
from numba import njit


@njit(cache=True)
def double(x):
    return 2.0 * x
"""

NOWHERE_TO_WRITE = """
import sys, tempfile
tempfile.tempdir = "/nonexistent"  # no temp folder either
if sys.argv[1] == "prepare":
    from stream.compile_cache import prepare_compile_cache
    print(prepare_compile_cache("kernels"))
import kernels
print(kernels.double(21.0))
"""


def test_without_any_writable_place_the_kernels_compile_uncached(world_dir):
    package = world_dir / "source" / "kernels"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(KERNELS)
    site = read_only_install(world_dir, {"kernels": package, "stream": REPO / "stream"})
    script = [_interpreter(), "-c", NOWHERE_TO_WRITE]

    unprepared = run_unprivileged([*script, "as-is"], site, cwd=world_dir)
    assert unprepared.returncode != 0 and "no locator available" in unprepared.stderr

    prepared = run_unprivileged([*script, "prepare"], site, cwd=world_dir)
    assert prepared.returncode == 0, prepared.stderr
    assert prepared.stdout.split() == ["no", "cache", "42.0"]


def test_the_image_compiles_the_kernels_as_its_user_into_a_cache_it_owns():
    """What the tests above cannot run without Docker, read from the Dockerfile: the runtime
    user owns NUMBA_CACHE_DIR and fills it at build time, through the installed command."""
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"NUMBA_CACHE_DIR=/\S+", dockerfile)
    assert 'chown lookout "$NUMBA_CACHE_DIR"' in dockerfile
    user = dockerfile.index("\nUSER lookout\n")
    warm = re.search(r"^RUN .*\blookout replay\b", dockerfile, re.M)
    assert warm is not None and warm.start() > user
    assert "--home-dir /nonexistent" in dockerfile  # as the tests above run it
