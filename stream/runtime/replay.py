"""Replay of historical CSVs through the per-series pipeline, writing results beside alerts.

With ``resume`` (``lookout replay --resume STATE.db``) the replay checkpoints into a SQLite
state store (:class:`~stream.runtime.state_store.SqliteStateStore`) every ``checkpoint_rows`` rows
and at the end of every file, and a later call with the same arguments continues from the last
checkpoint instead of starting over. A checkpoint is one transaction holding:

- the snapshot of every series touched since the previous checkpoint;
- the progress (meta entry ``replay``, JSON): per input file (by its relative path), how many
  of its valid rows were done (``rows``, counted in file order, parse-time rejects excluded)
  and whether it is finished; the size in bytes of every output file at that moment; the
  summary counts so far; and a fingerprint of the inputs and settings.

Resuming restores the series, truncates every output file to its checkpointed size (dropping
what a killed run wrote after its last checkpoint), skips finished files and the done rows of
the current one, and appends from there. The outputs are then byte for byte those of an
uninterrupted run. A different set of inputs, output folder or detector settings is refused.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson
from tqdm import tqdm

from detectors import DetectorStack
from detectors.state import snapshot
from stream.outputs.paging import Pager
from stream.outputs.sinks import RESULT_COLUMNS, JsonLinesWriter, ResultCsvWriter
from stream.point import InvalidPoint
from stream.runtime.pipeline import FAST_STEP, Admitted, Pipeline, ScoredBatch
from stream.runtime.state_store import SqliteStateStore, StateChanges
from stream.sources.csv_files import (
    CsvFile,
    ReadOptions,
    RejectedRow,
    SourceError,
    discover_input_files,
    in_time_order,
)
from stream.sources.input_files import read_input_file

__all__ = ["ReplayError", "ReplaySummary", "replay", "CHECKPOINT_ROWS"]

ALERTS_FILE = "alerts.jsonl"
REJECTED_FILE = "rejected.jsonl"
#: Rows between checkpoints of a resumable replay (and one at the end of every file).
CHECKPOINT_ROWS = 20_000
#: Rows of small files scored in one batch (shared by two threads) when nothing checkpoints:
#: enough for two threads (bank.MIN_POINTS_PER_SPLIT), few enough that the kernel of one batch
#: overlaps the reading and writing of its neighbours from the first files to the last.
GROUP_ROWS = 8192
# The replay's series all live in one pseudo-partition of the state store.
_PARTITION = ("replay", 0)
_PROGRESS_KEY = "replay"


class ReplayError(Exception):
    """Replay stopped on an invalid row (``on_invalid="fail"``); the message names file:line.
    Also: a ``--resume`` state that belongs to another replay."""


@dataclasses.dataclass
class ReplaySummary:
    files: int = 0
    points: int = 0
    series: int = 0
    alerts: int = 0
    kept_duplicates: int = 0
    rejected: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    seconds: float = 0.0
    resumed_files: int = 0
    resumed_rows: int = 0
    fast_series: int = 0  # sampled faster than FAST_STEP
    #: Files (or series of an export) put in time order, and the rows that moved.
    sorted_files: list[str] = dataclasses.field(default_factory=list)
    moved_rows: int = 0
    #: Files that could not be read at all: (relative path, why); they were skipped.
    skipped_files: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    #: Files (or series of an export) of which no row was scored.
    empty_files: list[str] = dataclasses.field(default_factory=list)
    # incidents that ended without paging, by reason (policy, mute windows, budget)
    held_back: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    threshold: float | None = None  # the alert budget's paging threshold at the end
    budget: float = 0.0  # the alert budget (pages per series per week), 0: off
    budget_rate: float = 0.0  # its realised pages per series per week at the end

    @property
    def points_per_second(self) -> float:
        return self.points / self.seconds if self.seconds > 0 else 0.0

    @property
    def errors(self) -> list[str]:
        """What went wrong with whole files (``lookout replay`` exits 1 when there is any)."""
        return [f"{path}: skipped: {why}" for path, why in self.skipped_files] + [
            f"{path}: every row was rejected (see rejected.jsonl)" for path in self.empty_files
        ]

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
            f"held back {sum(self.held_back.values())} incidents that ended without paging"
            + (
                f" ({', '.join(f'{k}: {v}' for k, v in sorted(self.held_back.items()) if v)})"
                if any(self.held_back.values())
                else ""
            ),
            f"duplicate timestamps scored in file order: {self.kept_duplicates}",
            f"elapsed   {self.seconds:.1f} s ({self.points_per_second:,.0f} points/s)",
        ]
        if self.sorted_files:
            shown = ", ".join(self.sorted_files[:5])
            more = len(self.sorted_files) - 5
            lines.append(
                f"sorted    {len(self.sorted_files)} file(s) by time ({self.moved_rows} rows "
                f"moved; a file is a history, each series is scored in time order): {shown}"
                + (f" and {more} more" if more > 0 else "")
            )
        for error in self.errors:
            lines.append(f"error     {error}")
        if self.budget:
            lines.append(
                f"budget    {self.budget:g} pages per series per week: paging threshold "
                f"{self.threshold:.3f}, realised {self.budget_rate:.2f} over the last week"
            )
        if self.fast_series:
            lines.append(
                f"warning   {self.fast_series} series sampled faster than every {FAST_STEP:g} s: "
                "the detectors count points and were tuned on 1- to 5-minute data, so they page "
                "more often on such series (README: 'Where it pages too often')"
            )
        if self.resumed_files or self.resumed_rows:
            lines.append(
                f"resumed   after {self.resumed_files} finished files and {self.resumed_rows} "
                "rows of the next"
            )
        return "\n".join(lines)


@dataclasses.dataclass
class _Progress:
    """What a checkpoint records besides the series states (see the module docstring)."""

    fingerprint: str
    files: dict[str, dict] = dataclasses.field(default_factory=dict)  # relpath -> rows, done
    outputs: dict[str, int] = dataclasses.field(default_factory=dict)  # output file -> bytes
    counts: dict = dataclasses.field(default_factory=dict)

    def to_json(self) -> str:
        return orjson.dumps(dataclasses.asdict(self)).decode()

    @classmethod
    def from_json(cls, text: str) -> _Progress:
        return cls(**orjson.loads(text))


def _fingerprint(
    files: list[tuple[Path, str]],
    out_dir: Path,
    stack_factory: Callable[[], DetectorStack],
    on_invalid: str,
    duplicates: str,
    reading: str,
    pager: Pager,
) -> str:
    """Identifies a replay: its inputs, output folder, result columns and settings (a fresh
    stack's snapshot holds every detector parameter; the pager's settings are its policy, links
    and budget). A resumed replay appends rows under the header written before."""
    digest = hashlib.sha256()
    for path, relpath in files:
        digest.update(f"{path.resolve()}\0{relpath}\0{path.stat().st_size}\0".encode())
    digest.update(f"{out_dir.resolve()}\0{on_invalid}\0{duplicates}\0{reading}\0".encode())
    digest.update(",".join(RESULT_COLUMNS).encode())
    digest.update(snapshot(stack_factory()))
    digest.update(pager.settings().encode())
    return digest.hexdigest()


def replay(
    paths: list[Path],
    out_dir: Path,
    stack_factory: Callable[[], DetectorStack] = DetectorStack,
    on_invalid: str = "skip",
    duplicates: str = "keep",
    progress: bool = False,
    resume: Path | None = None,
    checkpoint_rows: int = CHECKPOINT_ROWS,
    threads: int = 2,
    options: ReadOptions | None = None,
    strict_order: bool = False,
    pager: Pager | None = None,
) -> ReplaySummary:
    """Score every data file under ``paths``; write ``out_dir/<relative path>`` per input file
    (with ``.csv`` for its suffix; an export: ``<relative path without suffix>/<series>.csv``).

    Also writes ``alerts.jsonl`` (firing and resolved events) and ``rejected.jsonl`` (every row
    that was not scored, with file, line and reason) into ``out_dir``. With
    ``on_invalid="fail"`` the first invalid row raises :class:`ReplayError` instead.

    ``duplicates`` decides what a row repeating its series' previous timestamp is: ``"keep"``
    scores it in file order (and counts it), ``"reject"`` treats it as invalid.

    ``resume``: a SQLite file to checkpoint into every ``checkpoint_rows`` rows and at the end
    of each file, and to continue from if it holds a checkpoint of this same replay (see the
    module docstring).

    ``threads`` (1 or 2) score a batch of several series (small files are scored together);
    the results are the same. Unless the replay checkpoints or stops at an invalid row, a
    batch is scored on a worker thread while this one writes the previous batch's results and
    reads the next files (the compiled kernel releases the GIL).

    ``options`` say how to read the files (:class:`~stream.sources.csv_files.ReadOptions`). A file
    is a history: each of its series is scored in time order (a stable sort; counted in the
    summary), unless ``strict_order``, where a row earlier than its series' previous one is
    rejected as ``out_of_order``. A file that cannot be read at all is reported in the summary
    and skipped (``on_invalid="fail"``: :class:`ReplayError`); files under ``out_dir`` are never
    read as input.
    ``pager`` decides which incidents page (policy per series, links, alert budget; see
    :mod:`stream.outputs.paging`); default: every incident pages. A resumed replay keeps the counts
    of incidents held back, but its alert budget starts again from the detector's threshold.
    """
    if on_invalid not in ("skip", "fail"):
        raise ValueError(f"on_invalid must be 'skip' or 'fail', got {on_invalid!r}")
    if duplicates not in ("keep", "reject"):
        raise ValueError(f"duplicates must be 'keep' or 'reject', got {duplicates!r}")
    if checkpoint_rows < 1:
        raise ValueError(f"checkpoint_rows must be at least 1, got {checkpoint_rows}")
    options = options if options is not None else ReadOptions()
    try:
        files = [pair for root in paths for pair in discover_input_files(Path(root), out_dir)]
    except SourceError as exc:
        raise ReplayError(str(exc)) from exc
    summary = ReplaySummary()
    # Two threads score a batch's many series: a chunk of a long-format file, or small files
    # scored together (one series: one thread).
    pipeline = Pipeline(
        stack_factory, keep_duplicates=duplicates == "keep", threads=threads, pager=pager
    )
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    store = state = None
    if resume is not None:
        store = SqliteStateStore(resume)
        reading = f"{options}\0{strict_order}"
        fingerprint = _fingerprint(
            files, out_dir, stack_factory, on_invalid, duplicates, reading, pipeline.pager
        )
        state = _resume(store, pipeline, summary, fingerprint, out_dir)
    try:
        _run(
            files,
            out_dir,
            pipeline,
            summary,
            on_invalid,
            progress,
            store,
            state,
            checkpoint_rows,
            _Reader(options, strict_order, on_invalid, summary),
        )
    finally:
        if store is not None:
            store.close()
    summary.series = pipeline.series_count
    summary.fast_series = pipeline.fast_series_count
    summary.held_back = collections.Counter(pipeline.pager.held_back)
    budget = pipeline.pager.budget
    if budget is not None:
        summary.threshold, summary.budget = budget.threshold, budget.pages_per_week
        summary.budget_rate = budget.rate
    summary.seconds = time.perf_counter() - started
    return summary


def _resume(
    store: SqliteStateStore,
    pipeline: Pipeline,
    summary: ReplaySummary,
    fingerprint: str,
    out_dir: Path,
) -> _Progress:
    """The progress of the checkpoint in ``store`` (restoring its series and counts), or a
    fresh one."""
    text = store.meta(_PROGRESS_KEY)
    if text is None:
        return _Progress(fingerprint)
    state = _Progress.from_json(text)
    if state.fingerprint != fingerprint:
        raise ReplayError(
            f"{store.path} holds a checkpoint of another replay (other input files, output "
            "folder or settings); give a new --resume file or the original arguments"
        )
    for name, size in state.outputs.items():
        if not (out_dir / name).is_file() or (out_dir / name).stat().st_size < size:
            raise ReplayError(f"{out_dir / name} is missing or shorter than at the checkpoint")
    for series, data in store.load_partitions([_PARTITION]).states.items():
        pipeline.restore_series(series, data)
    counts = state.counts
    summary.files = counts.get("files", 0)
    summary.points = counts.get("points", 0)
    summary.alerts = counts.get("alerts", 0)
    summary.rejected.update(counts.get("rejected", {}))
    pipeline.order.kept_duplicates = counts.get("kept_duplicates", 0)
    pipeline.pager.held_back.update(counts.get("held_back", {}))
    summary.resumed_files = sum(1 for entry in state.files.values() if entry["done"])
    summary.resumed_rows = sum(entry["rows"] for entry in state.files.values() if not entry["done"])
    return state


def _write_rows(
    parsed: CsvFile,
    relpath: str,
    start: int,
    end: int,
    batch: ScoredBatch,
    refused: list[tuple[int, InvalidPoint]],
    out: ResultCsvWriter,
    alerts: JsonLinesWriter,
    reject: Callable[[RejectedRow], None],
    summary: ReplaySummary,
) -> None:
    """Write the scored rows ``start:end`` of a parsed file (``batch``: the rows not refused,
    in order; ``refused``: the others, by index from ``start``), their alerts and rejects."""
    series = parsed.written_series[start:end].tolist()
    raw_timestamps = parsed.raw_timestamps[start:end].tolist()
    # Without a reorder window the batch holds the rows not refused, in order.
    if refused:
        refused_at = dict(refused)
        kept = [i for i in range(len(series)) if i not in refused_at]
        series = [series[i] for i in kept]
        raw_kept = [raw_timestamps[i] for i in kept]
    else:
        raw_kept = raw_timestamps

    def write(first: int, last: int) -> None:
        out.write_batch(series[first:last], raw_kept[first:last], batch[first:last])

    written = 0
    lines = parsed.lines[start:end].tolist() if refused else []
    for n_before, (index, error) in enumerate(refused):
        # The rows before an invalid one are out before it is rejected (and, with
        # on_invalid="fail", raises).
        write(written, index - n_before)
        written = index - n_before
        raw = f"{raw_timestamps[index]},{parsed.values.item(start + index)}"
        reject(RejectedRow(relpath, lines[index], error.reason, raw))
    write(written, len(batch))
    for scored in batch.transitions():
        event = scored.event
        alerts.write(event.to_dict())
        summary.alerts += event.firing
    summary.points += len(batch)


def _start_file(
    parsed: CsvFile, reject: Callable[[RejectedRow], None], summary: ReplaySummary
) -> None:
    """A file's first output: the rows its reading rejected, and the file counted."""
    for row in parsed.rejected:
        reject(row)
    summary.files += 1


def _files_at_once(
    files: list[tuple[CsvFile, Path]],
    alerts: JsonLinesWriter,
    reject: Callable[[RejectedRow], None],
    summary: ReplaySummary,
) -> tuple[Batch, Callable[[ScoredBatch, list[tuple[int, InvalidPoint]]], None]]:
    """Whole parsed files as one batch, so that two threads share their series, and what
    writes each file's results, alerts and rejects in file order, as one at a time would."""

    def write(batch: ScoredBatch, refused: list[tuple[int, InvalidPoint]]) -> None:
        first_row = first_kept = 0
        for parsed, out_path in files:
            rows = len(parsed.lines)
            mine = [(i - first_row, e) for i, e in refused if first_row <= i < first_row + rows]
            kept = rows - len(mine)
            _start_file(parsed, reject, summary)
            with ResultCsvWriter(out_path, parsed.long_format) as out:
                part = batch[first_kept : first_kept + kept]
                relpath = parsed.relpath
                _write_rows(parsed, relpath, 0, rows, part, mine, out, alerts, reject, summary)
            if not kept:
                summary.empty_files.append(parsed.out_relpath)
            first_row += rows
            first_kept += kept

    points = (
        np.concatenate([parsed.series for parsed, _ in files]).tolist(),
        np.concatenate([parsed.timestamps for parsed, _ in files]),
        np.concatenate([parsed.values for parsed, _ in files]),
    )
    return points, write


#: Points to score: series, timestamps, values.
Batch = tuple[list[str], np.ndarray, np.ndarray]
_Write = Callable[[ScoredBatch, list[tuple[int, InvalidPoint]]], None]


class _Scoring:
    """Scores batches in order and hands each to its writer, in the same order.

    ``overlapped``: a batch's kernel runs on a worker thread (it releases the GIL) while this
    thread writes the previous batch's results and reads the next files; the pager still sees
    the batches in order, each after its kernel and before the next batch is admitted. Else
    each batch is scored and written before :meth:`submit` returns (checkpoints need that).
    """

    def __init__(self, pipeline: Pipeline, overlapped: bool):
        self.pipeline = pipeline
        self._executor = (
            concurrent.futures.ThreadPoolExecutor(1, "lookout-replay") if overlapped else None
        )
        self._pending: tuple[Admitted, concurrent.futures.Future | None, _Write] | None = None

    def submit(self, points: Batch, write: _Write) -> None:
        previous = self._finish()
        admitted = self.pipeline.admit_arrays(*points)
        if self._executor is None:
            self._pending = (admitted, None, write)
        else:
            future = self._executor.submit(self.pipeline.score_admitted, admitted)
            self._pending = (admitted, future, write)
        if previous is not None:
            previous()
        if self._executor is None:
            self.drain()

    def drain(self) -> None:
        """Score and write the batch still pending, if any."""
        previous = self._finish()
        if previous is not None:
            previous()

    def _finish(self) -> Callable[[], None] | None:
        """Wait for the pending batch's kernel and run its pager; what writes it."""
        if self._pending is None:
            return None
        admitted, future, write = self._pending
        self._pending = None
        if future is None:
            results = self.pipeline.score_admitted(admitted)
        else:
            results = future.result()
        batch, refused = self.pipeline.finish_admitted(admitted, results)
        return lambda: write(batch, refused)

    def close(self) -> None:
        """Stop the worker (after its kernel, if one still runs: on an error)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)


class _Reader:
    """Reads an input file into the parsed files the replay scores: each series in time order
    (unless strict), a file that cannot be read reported and skipped (or, with
    ``on_invalid="fail"``, stopping the replay)."""

    def __init__(
        self, options: ReadOptions, strict_order: bool, on_invalid: str, summary: ReplaySummary
    ):
        self.options = options
        self.strict_order = strict_order
        self.on_invalid = on_invalid
        self.summary = summary

    def __call__(self, path: Path, relpath: str) -> list[CsvFile]:
        try:
            parsed_files = read_input_file(path, relpath, self.options)
        except SourceError as exc:
            if self.on_invalid == "fail":
                raise ReplayError(str(exc)) from exc
            self.summary.skipped_files.append((relpath, str(exc).removeprefix(f"{path}: ")))
            return []
        if self.strict_order:
            return parsed_files
        ordered = []
        for parsed in parsed_files:
            parsed, moved = in_time_order(parsed)
            if moved:
                self.summary.sorted_files.append(parsed.out_relpath)
                self.summary.moved_rows += moved
            ordered.append(parsed)
        return ordered


def _run(
    files: list[tuple[Path, str]],
    out_dir: Path,
    pipeline: Pipeline,
    summary: ReplaySummary,
    on_invalid: str,
    progress: bool,
    store: SqliteStateStore | None,
    state: _Progress | None,
    checkpoint_rows: int,
    read: _Reader,
) -> None:
    outputs = state.outputs if state is not None else {}
    touched: set[str] = set()

    with (
        JsonLinesWriter(out_dir / ALERTS_FILE, outputs.get(ALERTS_FILE)) as alerts,
        JsonLinesWriter(out_dir / REJECTED_FILE, outputs.get(REJECTED_FILE)) as rejected_log,
    ):

        def reject(row: RejectedRow) -> None:
            if on_invalid == "fail":
                raise ReplayError(f"{row.path}:{row.line}: {row.reason} ({row.raw})")
            summary.rejected[row.reason] += 1
            rejected_log.write(dataclasses.asdict(row))

        def checkpoint(key: str, rows: int, done: bool, out: ResultCsvWriter) -> None:
            if store is None or state is None:
                return
            state.files[key] = {"rows": rows, "done": done}
            out_name = str(Path(out.path).relative_to(out_dir))
            state.outputs.update(
                {
                    ALERTS_FILE: alerts.flush(),
                    REJECTED_FILE: rejected_log.flush(),
                    out_name: out.flush(),
                }
            )
            state.counts = {
                "files": summary.files,
                "points": summary.points,
                "alerts": summary.alerts,
                "rejected": dict(summary.rejected),
                "kept_duplicates": pipeline.order.kept_duplicates,
                "held_back": dict(pipeline.pager.held_back),
            }
            changes = StateChanges(
                puts={s: (_PARTITION, pipeline.snapshot_series(s)) for s in sorted(touched)}
            )
            store.write(changes, meta={_PROGRESS_KEY: state.to_json()})
            touched.clear()

        # Small files wait to be scored together (two threads then share their series), unless
        # the replay checkpoints (a checkpoint follows every file) or stops at an invalid row;
        # then too, a batch's kernel overlaps the writing of the one before and the reading of
        # the files after.
        waiting: list[tuple[CsvFile, Path]] = []
        waiting_rows = 0  # kept as files come: thousands of tiny files would make a sum quadratic
        grouped = store is None and on_invalid == "skip"
        scoring = _Scoring(pipeline, overlapped=grouped)
        writers = contextlib.ExitStack()

        def score_waiting() -> None:
            nonlocal waiting_rows
            if waiting:
                scoring.submit(*_files_at_once(list(waiting), alerts, reject, summary))
                waiting.clear()
                waiting_rows = 0

        def chunk_writer(
            parsed: CsvFile, start: int, end: int, out: ResultCsvWriter, file: dict
        ) -> _Write:
            """What writes rows ``start:end`` of a file scored in chunks: its rejects before
            its first chunk (unless resumed), its checkpoints, and its end after its last."""
            key, stop = parsed.out_relpath, len(parsed.lines)

            def write(batch: ScoredBatch, refused: list[tuple[int, InvalidPoint]]) -> None:
                if "points_before" not in file:
                    if file["done"] is None:  # a resumed file logged these before
                        _start_file(parsed, reject, summary)
                    file["points_before"] = summary.points
                _write_rows(
                    parsed, parsed.relpath, start, end, batch, refused, out, alerts, reject, summary
                )
                touched.update(parsed.series[start:end].tolist())
                if store is not None and end % checkpoint_rows == 0 and end < stop:
                    checkpoint(key, end, False, out)
                if end == stop:
                    checkpoint(key, stop, True, out)
                    out.close()
                    if summary.points == file["points_before"] and file["done"] is None:
                        summary.empty_files.append(key)

            return write

        try:
            for path, relpath in tqdm(files, desc="replay", unit="file", disable=not progress):
                for parsed in read(path, relpath):
                    # Progress is kept per output file (an export has one per series).
                    key = parsed.out_relpath
                    done = state.files.get(key) if state is not None else None
                    if done is not None and done["done"]:
                        continue
                    out_path = out_dir / key
                    if grouped and len(parsed.lines) < CHECKPOINT_ROWS:
                        waiting.append((parsed, out_path))
                        waiting_rows += len(parsed.lines)
                        if waiting_rows >= GROUP_ROWS:
                            score_waiting()
                        continue
                    score_waiting()
                    start = 0 if done is None else done["rows"]
                    stop = len(parsed.lines)
                    if start >= stop:  # nothing to score: written at once, in order
                        scoring.drain()
                        if done is None:
                            _start_file(parsed, reject, summary)
                        resume_at = outputs.get(key) if done else None
                        with ResultCsvWriter(out_path, parsed.long_format, resume_at) as out:
                            checkpoint(key, stop, True, out)
                        if done is None:
                            summary.empty_files.append(key)
                        continue
                    resume_at = outputs.get(key) if done else None
                    out = writers.enter_context(
                        ResultCsvWriter(out_path, parsed.long_format, resume_at)
                    )
                    file = {"done": done}
                    # Chunks end where checkpoints fall: at multiples of checkpoint_rows.
                    chunk = checkpoint_rows if store is not None else CHECKPOINT_ROWS
                    while start < stop:
                        end = min(stop, (start // chunk + 1) * chunk)
                        points = (
                            parsed.series[start:end].tolist(),
                            parsed.timestamps[start:end],
                            parsed.values[start:end],
                        )
                        scoring.submit(points, chunk_writer(parsed, start, end, out, file))
                        start = end
            score_waiting()
            scoring.drain()
        finally:
            scoring.close()
            writers.close()
    summary.kept_duplicates = pipeline.order.kept_duplicates
