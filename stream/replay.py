"""Replay of historical CSVs through the per-series pipeline, writing results beside alerts."""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from detectors import DetectorStack
from stream.csv_source import RejectedRow, discover_csv_files, read_csv_file
from stream.pipeline import Pipeline
from stream.point import InvalidPoint, MetricPoint
from stream.sinks import JsonLinesWriter, ResultCsvWriter

__all__ = ["ReplayError", "ReplaySummary", "replay"]

ALERTS_FILE = "alerts.jsonl"
REJECTED_FILE = "rejected.jsonl"


class ReplayError(Exception):
    """Replay stopped on an invalid row (``on_invalid="fail"``); the message names file:line."""


@dataclasses.dataclass
class ReplaySummary:
    files: int = 0
    points: int = 0
    series: int = 0
    alerts: int = 0
    kept_duplicates: int = 0
    rejected: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    seconds: float = 0.0

    @property
    def points_per_second(self) -> float:
        return self.points / self.seconds if self.seconds > 0 else 0.0

    def format(self) -> str:
        lines = [
            f"files     {self.files}",
            f"points    {self.points}",
            f"series    {self.series}",
            f"alerts    {self.alerts}",
            f"rejected  {sum(self.rejected.values())}"
            + (
                f" ({', '.join(f'{k}: {v}' for k, v in sorted(self.rejected.items()))})"
                if self.rejected
                else ""
            ),
            f"duplicate timestamps scored in file order: {self.kept_duplicates}",
            f"elapsed   {self.seconds:.1f} s ({self.points_per_second:,.0f} points/s)",
        ]
        return "\n".join(lines)


def replay(
    paths: list[Path],
    out_dir: Path,
    stack_factory: Callable[[], DetectorStack] = DetectorStack,
    on_invalid: str = "skip",
    duplicates: str = "keep",
    progress: bool = False,
) -> ReplaySummary:
    """Score every CSV under ``paths``; write ``out_dir/<relative path>`` per input file.

    Also writes ``alerts.jsonl`` (firing and resolved events) and ``rejected.jsonl`` (every row
    that was not scored, with file, line and reason) into ``out_dir``. With
    ``on_invalid="fail"`` the first invalid row raises :class:`ReplayError` instead.

    ``duplicates`` decides what a row repeating its series' previous timestamp is: ``"keep"``
    scores it in file order (and counts it), ``"reject"`` treats it as invalid.
    """
    if on_invalid not in ("skip", "fail"):
        raise ValueError(f"on_invalid must be 'skip' or 'fail', got {on_invalid!r}")
    if duplicates not in ("keep", "reject"):
        raise ValueError(f"duplicates must be 'keep' or 'reject', got {duplicates!r}")
    files = [pair for root in paths for pair in discover_csv_files(Path(root))]
    summary = ReplaySummary()
    pipeline = Pipeline(stack_factory, keep_duplicates=duplicates == "keep")
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    with (
        JsonLinesWriter(out_dir / ALERTS_FILE) as alerts,
        JsonLinesWriter(out_dir / REJECTED_FILE) as rejected_log,
    ):

        def reject(row: RejectedRow) -> None:
            if on_invalid == "fail":
                raise ReplayError(f"{row.path}:{row.line}: {row.reason} ({row.raw})")
            summary.rejected[row.reason] += 1
            rejected_log.write(dataclasses.asdict(row))

        for path, relpath in tqdm(files, desc="replay", unit="file", disable=not progress):
            parsed = read_csv_file(path, relpath)
            for row in parsed.rejected:
                reject(row)
            summary.files += 1
            with ResultCsvWriter(out_dir / relpath.removesuffix(".gz"), parsed.long_format) as out:
                for series, raw_ts, ts, value, line in zip(
                    parsed.series.tolist(),
                    parsed.raw_timestamps.tolist(),
                    parsed.timestamps.tolist(),
                    parsed.values.tolist(),
                    parsed.lines.tolist(),
                    strict=True,
                ):
                    try:
                        assessment, event = pipeline.process(MetricPoint(series, ts, value))
                    except InvalidPoint as exc:
                        reject(RejectedRow(relpath, line, exc.reason, f"{raw_ts},{value}"))
                        continue
                    out.write(series, raw_ts, assessment)
                    summary.points += 1
                    if event is not None:
                        alerts.write(event.to_dict())
                        summary.alerts += event.firing
    summary.series = pipeline.series_count
    summary.kept_duplicates = pipeline.order.kept_duplicates
    summary.seconds = time.perf_counter() - started
    return summary
