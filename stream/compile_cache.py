"""Where numba keeps the compiled detector kernels when Lookout is installed read-only.

The kernels in ``detectors/`` (and the result rows' loop, :mod:`stream.outputs.csv_rows`, in
the same installation) are compiled with numba's ``cache=True``: numba stores the machine
code in ``NUMBA_CACHE_DIR``, beside the sources (``__pycache__``) or in the user's cache folder
(``~/.cache/numba``), and refuses to import a kernel's module when none of them is writable
(``cannot cache function '_walk_forest': no locator available``). That is the case of a
non-root user without a home running a read-only install, as in a container image.
:func:`prepare_compile_cache`, which ``lookout`` calls before any kernel is imported, makes
that case work, in this order:

1. numba finds a writable place by itself: nothing changes;
2. else the cache goes to a folder of this user in the temp folder
   (``<tmp>/lookout-numba-<uid>``, mode 0700): the kernels compile once per machine or
   container;
3. else nothing is cached: the kernels compile at every start (about half a minute).

The image (``Dockerfile``) compiles the kernels at build time into
``NUMBA_CACHE_DIR=/var/cache/lookout/numba``, owned by its user, so there case 1 holds.
"""

from __future__ import annotations

import os
import stat
import tempfile
from importlib import util
from pathlib import Path

__all__ = ["prepare_compile_cache", "CACHED", "PRIVATE_TEMP", "UNCACHED"]

#: What :func:`prepare_compile_cache` chose.
CACHED, PRIVATE_TEMP, UNCACHED = "numba's own place", "a private temp folder", "no cache"


def _numba_can_cache(source: Path) -> bool:
    """Whether numba finds a writable cache place for a function defined in ``source``,
    asked of numba itself (its ``FunctionCache`` raises ``RuntimeError`` when it does not)."""
    from numba.core.caching import FunctionCache

    namespace: dict = {}
    exec(compile("def probe():\n    pass\n", str(source), "exec"), namespace)
    try:
        FunctionCache(namespace["probe"])
    except RuntimeError:
        return False
    return True


def _private_temp_folder() -> Path | None:
    """``<tmp>/lookout-numba-<uid>``, created with mode 0700, or None if it cannot be made or
    is not a folder of this user that it may write (another user may have planted it)."""
    try:
        folder = Path(tempfile.gettempdir()) / f"lookout-numba-{os.getuid()}"
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
    except OSError:  # also FileNotFoundError: no usable temp folder at all
        return None
    mine = stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
    return folder if mine and os.access(folder, os.W_OK | os.X_OK) else None


def _disable_caching() -> None:
    """Make ``cache=True`` mean "compile in memory": numba's dispatchers keep the null cache
    they start with instead of asking for a place to write."""
    from numba.core import dispatcher

    dispatcher.Dispatcher.enable_caching = lambda self: None


def prepare_compile_cache(package: str = "detectors") -> str:
    """Make sure importing ``package``'s kernels cannot fail for want of a writable cache
    (see the module docstring); returns which case applied. Call before the kernels' modules
    are imported; calling it again changes nothing once numba can cache.

    >>> prepare_compile_cache() in (CACHED, PRIVATE_TEMP, UNCACHED)
    True
    """
    spec = util.find_spec(package)
    if spec is None or spec.origin is None:
        return CACHED  # nothing of ours to compile
    source = Path(spec.origin)
    if _numba_can_cache(source):
        return CACHED
    folder = _private_temp_folder()
    if folder is not None:
        from numba.core import config

        os.environ["NUMBA_CACHE_DIR"] = str(folder)
        config.reload_config()
        if _numba_can_cache(source):
            return PRIVATE_TEMP
    _disable_caching()
    return UNCACHED
