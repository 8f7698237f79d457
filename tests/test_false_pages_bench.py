"""bench/false_pages.py on a small quiet fleet: every opening the kernel made is attributed to
exactly one cause, and the tables add up to the pages counted by :mod:`sim.paging`."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pandas as pd

from bench import false_pages
from detectors.bank import StackBank
from sim.fleet import fleet
from sim.paging import series_paging


def _fleet():
    return fleet(8, 1.0, seed=2, incidents=False, intervals=[15.0, 60.0])


def test_every_opening_has_one_cause_and_matches_the_pages_of_the_alert_column():
    series = _fleet()
    rows = false_pages.openings(series, {"threshold": 0.3}, reopen=3600.0)
    assert rows, "a quiet fleet at threshold 0.3 opens some alerts"
    assert {row["cause"] for row in rows} <= set(false_pages.CAUSES)
    assert {row["age"] for row in rows} <= set(false_pages.AGES)
    # The openings are the pages sim.paging counts on the same alert column.
    bank = StackBank(threshold=0.3)
    pages = 0
    for s in series:
        slot = bank.add_series()
        t = (s.frame["timestamp"] - pd.Timestamp(0)).dt.total_seconds().to_numpy()
        results = bank.process(np.full(len(t), slot), t, s.frame["value"].to_numpy(float))
        pages += series_paging(s.frame["timestamp"], results.alert, []).false_pages
    assert len(rows) == pages


def test_main_prints_the_cause_tables_with_a_row_per_interval():
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        status = false_pages.main(["--series", "4", "--weeks", "0.5", "--set", "threshold=0.3"])
    assert status == 0
    text = stdout.getvalue()
    assert "| step | series-weeks | all | reopen |" in text
    for interval in ("15 s", "60 s", "300 s", "3600 s"):
        assert f"| {interval} |" in text


def test_exceedances_fall_with_the_level_and_the_tables_have_a_row_per_shape():
    series = fleet(4, 1.0, seed=2, incidents=False, intervals=[60.0, 300.0])
    levels = [0.2, 0.5]
    counts = false_pages.exceedances(series, {}, levels)
    everything = counts["all"]
    assert everything["points"] > 0
    for name, low in everything["hits"][0.2].items():
        assert everything["hits"][0.5][name] <= low
    assert everything["periods"][0.5] <= everything["periods"][0.2]
    assert sum(everything["hits"][0.2].values()) > 0, "noise reaches 1 in 16 at some points"
    text = false_pages.calibration_tables(counts, levels, 6.0)
    for group in ("cpu", "memory", "request_rate", "latency", "60 s", "300 s", "all"):
        assert f"| {group} |" in text
    assert "| group | forecast 0.2 | forecast 0.5 |" in text
