"""bench/quality.py on tiny corpora: every table is there, with its columns and rows, and the
figures are consistent with what the detectors did."""

from __future__ import annotations

import contextlib
import io

import pytest

from bench import quality
from sim.fleet import INTERVALS, SHAPES
from sim.scenarios import sre, write_nab_folder


def _tables(text: str) -> dict[str, list[list[str]]]:
    """Markdown tables by the ``##`` heading above them: rows of cells, header first."""
    tables, heading = {}, None
    for line in text.splitlines():
        if line.startswith("## "):
            heading = line[3:]
            tables[heading] = []
        elif line.startswith("|") and not line.startswith("|---") and heading:
            tables[heading].append([cell.strip() for cell in line.strip("|").split("|")])
    return tables


@pytest.fixture(scope="module")
def output(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("corpus")
    write_nab_folder(sre(seed=1, days=10), folder, category="sre")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
        status = quality.main(
            [
                "--nab",
                str(folder),
                "--smd",
                str(folder),
                "--series",
                "10",
                "--weeks",
                "1.5",
                "--thresholds",
                "0.36,0.6",
                "--z",
                "3,6",
            ]
        )
    assert status == 0
    return stdout.getvalue()


def test_per_corpus_table_has_one_column_per_corpus_and_both_detectors(output):
    table = _tables(output)["Per corpus"]
    header, rows = table[0], table[1:]
    assert header[:2] == ["measure", "detector"]
    assert [name.split(" (")[0] for name in header[2:]] == [
        "NAB",
        "SMD",
        "fleet-quiet",
        "fleet-incidents",
    ]
    measures = {row[0] for row in rows}
    for measure in (
        "NAB std (opt)",
        "NAB low FP (alerts)",
        "alert F1 (points)",
        "event recall",
        "median delay (samples)",
        "median delay (min)",
        "false pages / series-week",
    ):
        assert measure in measures
        assert {row[1] for row in rows if row[0] == measure} == {"Lookout", "baseline"}
    quiet = header.index(next(h for h in header if h.startswith("fleet-quiet")))
    for row in rows:
        if row[0] in ("event recall", "NAB std (opt)", "median delay (min)"):
            assert row[quiet] == "-"  # the quiet fleet has no incident to find or score
        if row[0] == "event recall":
            assert 0.0 <= float(row[quiet + 1]) <= 1.0


def test_interval_and_shape_tables_have_a_row_each_lookout_beside_baseline(output):
    tables = _tables(output)
    by_interval = next(
        rows for name, rows in tables.items() if name.startswith("Fleet by sampling")
    )
    assert [row[0] for row in by_interval[1:]] == ["15 s", "1 min", "5 min", "1 h"]
    assert len(INTERVALS) == 4
    assert by_interval[0][1:3] == ["false pages/series-week, quiet: Lookout", "baseline"]
    by_shape = tables["Fleet by shape"]
    assert [row[0] for row in by_shape[1:]] == list(SHAPES)
    assert all(len(row) == len(by_shape[0]) for row in by_shape)
    for row in by_shape[1:]:
        assert float(row[1]) >= 0 and float(row[2]) >= 0  # every shape has quiet weeks


def test_leave_one_out_says_who_chose_and_reports_on_every_corpus(output):
    tables = _tables(output)
    for detector, values in (
        ("Lookout threshold", {"0.360", "0.600"}),
        ("baseline |z| threshold", {"3.000", "6.000"}),
    ):
        rows = next(
            r for name, r in tables.items() if name.startswith(f"Leave one corpus out: {detector}")
        )
        assert [row[0] for row in rows[1:]] == ["NAB", "SMD", "fleet"]
        for row in rows[1:]:
            assert row[1] in values
            chooser_cells = [cell for cell in row[2:] if cell.endswith("(chooser)")]
            assert len(chooser_cells) == 1
        # Each corpus's own pick is at least as good on it as any other corpus's pick.
        f1 = {row[0]: [float(c.split()[0]) for c in row[2::3]] for row in rows[1:]}
        for position, corpus in enumerate(["NAB", "SMD", "fleet"]):
            assert f1[corpus][position] >= max(other[position] for other in f1.values())
