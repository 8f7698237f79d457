"""Which of a point's labels go onto the per-series gauges, within bounds.

A point may carry labels (``job``, ``instance``, ``team``, ...; see :mod:`stream.sources.messages`).
Copied onto Lookout's per-series gauges they let PromQL join Lookout's scores with the series
they score (``lookout_anomaly_score * on(job, instance) group_left ...``), but every label is
also cardinality in the Prometheus that scrapes Lookout. :class:`LabelPolicy` says which labels
are copied (keep and drop lists) and bounds them the way Prometheus bounds a scrape
(``label_limit``, ``label_value_length_limit``); :class:`LabelValues` bounds the distinct values
of each label over the exposed series. A label left off for a bound is counted by reason
(:data:`DROP_REASONS`), never an error: the series is still exposed, with its other labels.

Alert events and Alertmanager alerts carry all of the point's labels (already bounded by the
message contract: at most 32, values of at most 256 characters), so that routing sees them.

Examples
--------
>>> policy = LabelPolicy(drop=frozenset({"pod"}), max_labels=2)
>>> policy.select({"team": "web", "pod": "web-1", "job": "api", "zone": "a"})
({'job': 'api', 'team': 'web'}, ['count'])
"""

from __future__ import annotations

import collections
import dataclasses
import re
from collections.abc import Iterable, Mapping

__all__ = [
    "DROP_REASONS",
    "RESERVED_LABELS",
    "LabelPolicy",
    "LabelValues",
    "parse_label_list",
]

#: Why a label was left off a series' gauges: more than ``max_labels``, a value longer than
#: ``max_value_length``, too many distinct values, a name that is not a Prometheus label name
#: or one Lookout sets itself.
DROP_REASONS = ("count", "length", "cardinality", "invalid_name", "reserved")

#: Label names Lookout's gauges set themselves.
RESERVED_LABELS = frozenset({"series"})

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


def parse_label_list(text: str) -> frozenset[str] | None:
    """A comma-separated list of label names; ``*`` (or nothing) means every label (None).

    >>> sorted(parse_label_list("job, instance"))
    ['instance', 'job']
    >>> parse_label_list("*") is None
    True
    >>> parse_label_list("job,1x")
    Traceback (most recent call last):
    ...
    ValueError: '1x' is not a Prometheus label name
    """
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names or names == ["*"]:
        return None
    for name in names:
        if not _LABEL_NAME.match(name) or name.startswith("__"):
            raise ValueError(f"{name!r} is not a Prometheus label name")
    return frozenset(names)


@dataclasses.dataclass(frozen=True)
class LabelPolicy:
    """Which labels of a point go onto its series' gauges.

    Parameters
    ----------
    keep
        Only these label names (None: every label).
    drop
        Never these label names (applied after ``keep``).
    max_labels
        At most this many labels per series (the first in name order); 0: none at all.
    max_value_length
        A label whose value is longer is left off (not cut: a cut value could join the wrong
        series).
    """

    keep: frozenset[str] | None = None
    drop: frozenset[str] = frozenset()
    max_labels: int = 10
    max_value_length: int = 128

    def __post_init__(self) -> None:
        if self.max_labels < 0:
            raise ValueError(f"max_labels must be at least 0, got {self.max_labels}")
        if self.max_value_length < 1:
            raise ValueError(f"max_value_length must be at least 1, got {self.max_value_length}")

    def select(self, labels: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
        """The labels to expose, in name order, and the reason of each one left off for a
        bound (labels left off by ``keep``/``drop`` are not counted: that is configuration).

        >>> LabelPolicy(max_value_length=3).select({"series": "x", "job": "long", "b": "ok"})
        ({'b': 'ok'}, ['length', 'reserved'])
        """
        chosen: dict[str, str] = {}
        dropped: list[str] = []
        for name in sorted(labels):
            if self.keep is not None and name not in self.keep or name in self.drop:
                continue
            value = labels[name]
            if name in RESERVED_LABELS:
                dropped.append("reserved")
            elif not isinstance(name, str) or not _LABEL_NAME.match(name) or name[:2] == "__":
                dropped.append("invalid_name")
            elif not isinstance(value, str) or len(value) > self.max_value_length:
                dropped.append("length")
            elif len(chosen) >= self.max_labels:
                dropped.append("count")
            else:
                chosen[name] = value
        return chosen, dropped


class LabelValues:
    """Distinct values of each label name over the exposed series, at most ``max_values`` each.

    :meth:`admit` takes a series' labels and returns those within the bound (a value already
    exposed by another series is always admitted); :meth:`release` gives back what a series
    held when its gauges go.

    >>> values = LabelValues(max_values=1)
    >>> values.admit({"job": "api", "pod": "p1"})
    ({'job': 'api', 'pod': 'p1'}, [])
    >>> values.admit({"job": "api", "pod": "p2"})
    ({'job': 'api'}, ['cardinality'])
    >>> values.release({"job": "api", "pod": "p1"})
    >>> values.admit({"job": "api", "pod": "p2"})
    ({'job': 'api', 'pod': 'p2'}, [])
    """

    def __init__(self, max_values: int = 1000):
        if max_values < 1:
            raise ValueError(f"max_values must be at least 1, got {max_values}")
        self.max_values = max_values
        # label name -> value -> number of exposed series holding it
        self._held: dict[str, collections.Counter[str]] = {}

    def admit(self, labels: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
        admitted: dict[str, str] = {}
        dropped: list[str] = []
        for name, value in labels.items():
            held = self._held.setdefault(name, collections.Counter())
            if value not in held and len(held) >= self.max_values:
                dropped.append("cardinality")
                continue
            held[value] += 1
            admitted[name] = value
        return admitted, dropped

    def release(self, labels: Iterable[tuple[str, str]] | Mapping[str, str]) -> None:
        items = labels.items() if isinstance(labels, Mapping) else labels
        for name, value in items:
            held = self._held.get(name)
            if held is None or value not in held:
                continue
            held[value] -= 1
            if held[value] <= 0:
                del held[value]
            if not held:
                del self._held[name]
