"""Versioned, data-only snapshots of detector state.

A snapshot is JSON (via orjson) describing the learned state of any detector in this package:
numbers, strings, containers, numpy arrays (raw bytes, base64) and objects of *this package's*
classes. Restoring never runs code from the data: only classes defined under ``detectors.`` can
be named, and they are rebuilt attribute by attribute, without calling ``__init__``. This is
what makes it safe to restore state read from a shared Kafka topic, where a pickle is not.
A class may define ``_after_restore()``, called once its attributes are set, to share or
upgrade what it restored; or say what its state is, as data, with ``_snapshot_state()`` and
be rebuilt from it by the class method ``_from_snapshot_state(data)`` (a
:class:`~detectors.DetectorStack` gives its parameters and its series' exported state).

Examples
--------
>>> from detectors import DetectorStack
>>> stack = DetectorStack(grace_period=20)
>>> for t in range(100):
...     _ = stack.process(60.0 * t, float(t % 7))
>>> data = snapshot(stack)
>>> twin = restore(data)
>>> stack.process(6000.0, 3.0) == twin.process(6000.0, 3.0)
True
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import enum
import importlib
import math

import numpy as np
import orjson

__all__ = ["SnapshotError", "snapshot", "restore", "FORMAT", "VERSION"]

FORMAT = "lookout-detector-state"
VERSION = 1
_ALLOWED_PREFIX = "detectors."


class SnapshotError(ValueError):
    """The data is not a snapshot this version can restore (wrong format, version or class)."""


def snapshot(obj: object) -> bytes:
    """Serialize ``obj``'s state to bytes."""
    return orjson.dumps({"format": FORMAT, "version": VERSION, "state": _encode(obj)})


def restore(data: bytes) -> object:
    """Rebuild an object from :func:`snapshot` bytes; raises :class:`SnapshotError` on bad data."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SnapshotError(f"not JSON: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise SnapshotError("not a Lookout detector state snapshot")
    if document.get("version") != VERSION:
        raise SnapshotError(f"snapshot version {document.get('version')!r}, expected {VERSION}")
    try:
        return _decode(document["state"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SnapshotError(f"malformed snapshot: {exc}") from exc


def _encode(value):
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else {"$f": repr(value)}
    if isinstance(value, np.ndarray):
        array = np.require(value, requirements="C")  # keeps a 0-d array 0-d
        return {
            "$a": base64.b64encode(array.tobytes()).decode(),
            "dtype": array.dtype.str,
            "shape": list(array.shape),
        }
    if isinstance(value, collections.deque):
        return {"$q": [_encode(v) for v in value], "maxlen": value.maxlen}
    if isinstance(value, tuple):
        return {"$t": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {"$d": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if isinstance(value, enum.Enum):
        return {"$e": _class_name(type(value)), "v": value.value}
    if hasattr(value, "_snapshot_state"):  # an object that says what its state is
        return {"$o": _class_name(type(value)), "d": _encode(value._snapshot_state())}
    return {"$o": _class_name(type(value)), "s": {k: _encode(v) for k, v in _attributes(value)}}


def _attributes(obj) -> list[tuple[str, object]]:
    if hasattr(obj, "__dict__"):
        return list(vars(obj).items())
    if dataclasses.is_dataclass(obj):
        return [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj)]
    raise TypeError(f"cannot snapshot {type(obj).__name__}")


def _class_name(cls: type) -> str:
    name = f"{cls.__module__}.{cls.__qualname__}"
    if not name.startswith(_ALLOWED_PREFIX):
        raise TypeError(f"cannot snapshot objects of {name}")
    return name


def _resolve(name: str) -> type:
    if not isinstance(name, str) or not name.startswith(_ALLOWED_PREFIX):
        raise SnapshotError(f"class {name!r} is not allowed in a snapshot")
    module_name, _, class_name = name.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise SnapshotError(f"unknown module in class {name!r}") from None
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise SnapshotError(f"unknown class {name!r}")
    return cls


def _decode(value):
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$f" in value:
        return float(value["$f"])
    if "$a" in value:
        array = np.frombuffer(base64.b64decode(value["$a"]), dtype=np.dtype(value["dtype"]))
        return array.reshape(value["shape"]).copy()
    if "$q" in value:
        return collections.deque((_decode(v) for v in value["$q"]), maxlen=value["maxlen"])
    if "$t" in value:
        return tuple(_decode(v) for v in value["$t"])
    if "$d" in value:
        return {_decode(k): _decode(v) for k, v in value["$d"]}
    if "$e" in value:
        return _resolve(value["$e"])(value["v"])
    if "$o" in value and "d" in value:
        cls = _resolve(value["$o"])
        if not hasattr(cls, "_from_snapshot_state"):
            raise SnapshotError(f"class {value['$o']!r} is not restored from data")
        return cls._from_snapshot_state(_decode(value["d"]))
    if "$o" in value:
        cls = _resolve(value["$o"])
        obj = cls.__new__(cls)
        for key, item in value["s"].items():
            object.__setattr__(obj, key, _decode(item))
        if hasattr(obj, "_after_restore"):
            obj._after_restore()
        return obj
    raise SnapshotError(f"unknown value {sorted(value)!r}")
