"""A series state written by an earlier Lookout (format version 2 to 5) is restored by this
one, which then scores the next points as the earlier version did (with the detectors that
version had: the range break came after version 2, return_is_surprise after version 3, the
onset margin after version 4), up to what format 5 forgets: the onset's maximum covers about
the last 200 scores, in blocks, where earlier formats kept exactly the last 200, and the
histograms count in float32 (scores move in the eighth digit) as do the season's values
(expected values move in the ninth). Format 6 only renamed format 5's columns; format 7
changed the forecaster's algorithm (see ``CLOSE``). The policy of how long a format is read is in
:mod:`detectors.state_format`."""

from __future__ import annotations

import base64
import functools
import gzip
from pathlib import Path

import numpy as np
import orjson
import pytest

from detectors import DetectorStack
from detectors.state import SnapshotError
from stream.runtime.pipeline import SERIES_STATE_VERSION, Pipeline

FIXTURES = Path(__file__).with_name("data")
# Computed before the onset rule: restored, they carry on as they would have.
UNCHANGED = ("anomaly_score", "expected", "lower", "upper", "hst_score")
# Format 7's forecaster (recursive least squares, its ridge refilled one entry in turn) moves
# expected values in the fourth to sixth digit from those of the solve before it (2e-4 at most
# on these fixtures), and the scores computed from them as little: a restored state scores on
# within this of what the earlier version scored, with the same alerts.
CLOSE = {"rtol": 2e-3, "atol": 2e-3}


def load(version: int) -> dict:
    return orjson.loads(
        gzip.decompress((FIXTURES / f"series_state_v{version}.json.gz").read_bytes())
    )


@pytest.fixture(scope="module")
def earlier():
    return load(2)


def assert_output_close(results, name: str, earlier) -> None:
    """``results.<name>`` within ``CLOSE`` of the earlier version's. While an alert fires, the
    outputs show the expectation frozen when it opened (format 9): the forecaster's own are
    compared where none fires."""
    rows = ~results.alert if name in ("expected", "lower", "upper") else slice(None)
    np.testing.assert_allclose(
        getattr(results, name)[rows], np.asarray(earlier)[rows], **CLOSE, err_msg=name
    )


def assert_alerts_open_as_before(results, earlier) -> None:
    """Every earlier alert is firing where it opened: it now lasts until the value is back (or
    its level is accepted), so it may have opened earlier and still fire."""
    earlier = np.asarray(earlier, dtype=bool)
    opened = earlier & ~np.r_[False, earlier[:-1]]
    assert opened.any() and results.alert[opened].all()


def scores_of(expected: dict) -> dict:
    """The fixture's outputs named as now: fixtures made before ``onset_score`` hold the onsets
    as ``anomaly_score`` and the continuous score as ``combined``."""
    if "onset_score" in expected:
        return expected
    renamed = {k: v for k, v in expected.items() if k not in ("anomaly_score", "combined")}
    renamed["onset_score"] = expected["anomaly_score"]
    if "combined" in expected:
        renamed["anomaly_score"] = expected["combined"]
    return renamed


def assert_scores_on(pipeline: Pipeline, earlier: dict) -> None:
    """Restored, the pipeline scores the fixture's next points as the earlier version did."""
    pipeline.restore_series(earlier["series"], base64.b64decode(earlier["state"]))
    count = len(earlier["values"])
    batch, refused = pipeline.push_arrays(
        [earlier["series"]] * count, np.array(earlier["timestamps"]), np.array(earlier["values"])
    )
    assert not refused
    expected = scores_of(earlier["expected"])
    for name in UNCHANGED:
        if name in expected:
            assert_output_close(batch.results, name, expected[name])
    # Blocks remember a little less than the exact window: every earlier onset is still one,
    # and any other onset is a point scoring above the last 181 to 200 points.
    score = batch.results.onset_score
    onsets = np.asarray(expected["onset_score"]) > 0
    np.testing.assert_allclose(score[onsets], np.asarray(expected["onset_score"])[onsets], **CLOSE)
    np.testing.assert_array_equal(
        score[~onsets & (score > 0)], batch.results.anomaly_score[~onsets & (score > 0)]
    )
    assert np.max(expected["onset_score"]) > 0.36  # the fixture holds an incident
    assert batch.results.alert.any()
    if "alert" in expected:
        assert_alerts_open_as_before(batch.results, expected["alert"])
    # Saved again, it is in the current format.
    header = orjson.loads(pipeline.snapshot_series(earlier["series"]).partition(b"\n")[0])
    assert header["version"] == SERIES_STATE_VERSION


def test_version_2_state_scores_the_next_points_as_version_2_did(earlier):
    stack = functools.partial(
        DetectorStack, range_break=False, return_is_surprise=False, onset_margin=0.0
    )
    assert_scores_on(Pipeline(stack), earlier)


def test_version_3_state_scores_the_next_points_as_version_3_did():
    """Version 4 cut the bounded calibrators' histograms at their bound."""
    stack = functools.partial(DetectorStack, return_is_surprise=False, onset_margin=0.0)
    assert_scores_on(Pipeline(stack), load(3))


def test_version_4_state_scores_the_next_points_as_version_4_did():
    """Version 5 keeps the onset's maximum in blocks."""
    assert_scores_on(Pipeline(functools.partial(DetectorStack, onset_margin=0.0)), load(4))


def test_version_5_state_scores_the_next_points_as_version_5_did():
    """Version 6 holds the same numbers under the parts' field names; version 7 moves the
    forecaster to recursive least squares (see ``CLOSE``)."""
    earlier = load(5)
    pipeline = Pipeline(DetectorStack)
    pipeline.restore_series(earlier["series"], base64.b64decode(earlier["state"]))
    count = len(earlier["values"])
    batch, _ = pipeline.push_arrays(
        [earlier["series"]] * count, np.array(earlier["timestamps"]), np.array(earlier["values"])
    )
    for name, values in scores_of(earlier["expected"]).items():
        if name != "alert":
            assert_output_close(batch.results, name, values)
    assert_alerts_open_as_before(batch.results, earlier["expected"]["alert"])


def test_version_2_state_restores_into_the_default_stack(earlier):
    """The range break starts learning at the restore; everything else carries on."""
    pipeline = Pipeline(DetectorStack)
    pipeline.restore_series(earlier["series"], base64.b64decode(earlier["state"]))
    count = len(earlier["values"])
    batch, _ = pipeline.push_arrays(
        [earlier["series"]] * count, np.array(earlier["timestamps"]), np.array(earlier["values"])
    )
    assert_output_close(batch.results, "expected", earlier["expected"]["expected"])
    assert batch.results.alert.any()


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (1, f"version 1 is not read any more .versions 2 to {SERIES_STATE_VERSION} are."),
        (SERIES_STATE_VERSION + 1, "newer than this Lookout's"),
        ("5", "version '5'"),
    ],
)
def test_other_versions_are_refused_with_a_clear_error(earlier, version, message):
    state = base64.b64decode(earlier["state"])
    head, _, body = state.partition(b"\n")
    header = orjson.loads(head)
    header["version"] = version
    pipeline = Pipeline(DetectorStack)
    with pytest.raises(SnapshotError, match=message):
        pipeline.restore_series("api", orjson.dumps(header) + b"\n" + body)
    assert "api" not in pipeline.slots


def upgrade_to_11(state: dict, version: int, bank) -> dict:
    """``state`` through the upgrades from ``version`` to format 11 only (format 12 reads the
    season of format 11, which a state exported now does not hold)."""
    from detectors.state_format import OLDEST_READ, UPGRADES

    for step in UPGRADES[version - OLDEST_READ : 11 - OLDEST_READ]:
        state = step(state, bank)
    return state


def as_format_12(state: dict, bank) -> dict:
    """``state`` (current format) as formats 4 to 12 held it: the recalibrator's histogram cut
    at the bin of 1, into which they put every higher score; the upgrade to format 13 gives it
    those bins back, empty."""
    from detectors.parts.calibration import calibrator_names

    c = bank._params.calibration
    which = calibrator_names(bank.parameters()).index("recalibration")
    start, bound = c.starts[which], int(np.ceil(np.log1p(1.0) / c.bin_width))
    counts = np.array(state["calibration.counts"])
    top = start + bound - 1
    counts[top] += counts[top + 1 : start + c.bins[which]].sum()
    cut = np.r_[counts[: top + 1], counts[start + c.bins[which] :]]
    return {**state, "calibration.counts": cut}


def test_version_9_state_gains_fresh_incident_runs_and_scores_on():
    """Format 10 adds the stuck-value and outage runs: a format-9 state (without them) gets a new
    series' runs, the rest as it was, and the bank scores on from it."""
    from detectors.bank import StackBank

    bank = StackBank()
    slot = bank.add_series()
    t = 300.0 * np.arange(600)
    bank.process(np.full(600, slot), t, 10.0 + np.sin(t / 5000.0))
    state = bank.export_slot(slot)
    added = ("stuck.", "outage.", "leak.", "fill.")  # by formats 10 and 11
    older = {k: v for k, v in state.items() if not k.startswith(added)}
    upgraded = upgrade_to_11(older, 9, bank)
    fresh = bank.new_series_state()
    assert set(upgraded) == set(state)
    for name in state:
        expected = fresh[name] if name.startswith(added) else state[name]
        np.testing.assert_array_equal(upgraded[name], expected, err_msg=name)
    copy = bank.import_slot(upgraded)
    results = bank.process(np.array([copy]), np.array([t[-1] + 300.0]), np.array([10.5]))
    assert np.isfinite(results.anomaly_score[0])


def test_version_10_state_gains_fresh_slow_kinds_and_scores_on():
    """Format 11 adds the leak's and the disk fill's lines (:mod:`detectors.parts.trend`): a
    format-10 state gets a new series' (empty: no point fitted, no usual slope), the rest as it
    was, and the bank scores on from it; the kinds' warm-up starts at its next point."""
    from detectors.bank import StackBank

    bank = StackBank()
    slot = bank.add_series()
    t = 300.0 * np.arange(600)
    bank.process(np.full(600, slot), t, 10.0 + np.sin(t / 5000.0))
    state = bank.export_slot(slot)
    assert np.isfinite(state["leak.since"]) and state["fill.w"] > 0  # the lines were fitted
    older = {k: v for k, v in state.items() if not k.startswith(("leak.", "fill."))}
    upgraded = upgrade_to_11(older, 10, bank)
    assert set(upgraded) == set(state)
    for name in state:
        if name.startswith(("leak.", "fill.")):
            assert (
                np.isnan(upgraded[name])
                if name.endswith(("time", "since"))
                else (upgraded[name] == 0.0)
            ), name
        else:
            np.testing.assert_array_equal(upgraded[name], state[name], err_msg=name)
    copy = bank.import_slot(upgraded)
    results = bank.process(np.array([copy]), np.array([t[-1] + 300.0]), np.array([10.5]))
    assert np.isfinite(results.anomaly_score[0])
    assert bank.export_slot(copy)["leak.since"] == t[-1] + 300.0


def test_version_11_state_scores_the_next_points_as_version_11_did():
    """Format 12 keeps the season in buckets of time: a 5-minute series has one point per
    bucket; format 13's recalibrator learns the combined evidence beyond 1 and keeps what it
    learned in the same bins. The fixture (a 5-minute series, written at 1704c7c) scores on as
    format 11 did, its evidence staying within what it saw."""
    earlier = load(11)
    pipeline = Pipeline(DetectorStack)
    pipeline.restore_series(earlier["series"], base64.b64decode(earlier["state"]))
    count = len(earlier["values"])
    batch, _ = pipeline.push_arrays(
        [earlier["series"]] * count, np.array(earlier["timestamps"]), np.array(earlier["values"])
    )
    for name, values in earlier["expected"].items():
        if name != "alert":
            assert_output_close(batch.results, name, values)
    np.testing.assert_array_equal(batch.results.alert, earlier["expected"]["alert"])


def test_version_12_recalibrator_gains_empty_bins_past_1():
    """The upgrade to format 13 keeps every count of the recalibrator where it was and adds
    its bins past 1, empty; the other calibrators' histograms follow unchanged."""
    from detectors.bank import StackBank
    from detectors.state_format import upgrade

    bank = StackBank()
    slot = bank.add_series()
    t = 300.0 * np.arange(600)
    bank.process(np.full(600, slot), t, 10.0 + np.sin(t / 5000.0))
    state = bank.export_slot(slot)
    older = as_format_12(state, bank)
    assert len(older["calibration.counts"]) < len(state["calibration.counts"])
    upgraded = upgrade(older, 12, bank)
    kept = upgraded["calibration.counts"]
    assert (
        len(kept) == len(state["calibration.counts"])
        and kept.sum() == older["calibration.counts"].sum()
    )
    copy = bank.import_slot(upgraded)
    results = bank.process(np.array([copy]), np.array([t[-1] + 300.0]), np.array([10.5]))
    assert np.isfinite(results.anomaly_score[0])


def format_11(state: dict) -> dict:
    """A format-12 state of a series without a season, as format 11 held it."""
    older = {k: v for k, v in state.items() if not k.startswith("seasonal.")}
    for name in ("history_bucket", "bucket_total", "bucket_count"):
        older.pop(f"forecaster.{name}")
    older["forecaster.history_head"] = np.array(0)
    for name in ("length", "float_offset", "count_offset"):
        older[f"seasonal.{name}"] = np.array(0)
    older["seasonal.anchor"] = np.array(np.nan)
    older["season_floats"] = np.zeros(0, np.float32)
    older["season_counts"] = np.zeros(0, np.uint16)
    return older


def test_a_15_second_series_without_a_season_gains_an_empty_one():
    """Format 11 kept no season for a series whose day held over 1,500 points; format 12 gives
    it the 288 buckets of time, empty, which learn from its next points."""
    from detectors.bank import StackBank
    from detectors.state_format import upgrade

    bank = StackBank()
    slot = bank.add_series()
    t = 1.7e9 + 15.0 * np.arange(400)
    bank.process(np.full(400, slot), t, 10.0 + np.sin(t / 3000.0))
    upgraded = upgrade(format_11(as_format_12(bank.export_slot(slot), bank)), 11, bank)
    assert int(upgraded["seasonal.length"]) == 288
    assert len(upgraded["season_counts"]) == 288 and not upgraded["season_counts"].any()
    copy = bank.import_slot(upgraded)
    more = t[-1] + 15.0 * np.arange(1, 101)
    results = bank.process(np.full(100, copy), more, 10.0 + np.sin(more / 3000.0))
    assert np.isfinite(results.anomaly_score).all()
    assert bank._season_counts.sum() > 0  # it learns


def test_a_1_minute_profile_is_merged_into_5_minute_buckets():
    from detectors.state_format import _merge_profile

    old, length = 1440, 288
    counts = np.full(old, 3)
    counts[:5] = (0, 1, 1, 1, 1)  # the first new bucket: four old ones learned once
    means = np.arange(old, dtype=np.float64)
    floats = np.concatenate([np.zeros(old + 1), means, np.full(old, 2.0)])
    new_floats, new_counts = np.zeros(2 * length), np.zeros(length, np.uint16)
    _merge_profile({}, floats, counts, old, length, new_floats, new_counts)
    assert new_counts[0] == 4 and new_counts[1] == 15
    assert new_floats[0] == 2.5 and new_floats[1] == 7.0  # (1 + 2 + 3 + 4) / 4, minutes 5-9
    assert new_floats[length] == 2.0


def test_version_13_inverse_is_rounded_to_float32_and_scores_on():
    """The upgrade to format 14 rounds the forecaster's ``P`` to float32; the series scores on,
    its expected value within float32 rounding of the float64 one's."""
    from detectors.bank import StackBank
    from detectors.state_format import upgrade

    bank = StackBank()
    slot = bank.add_series()
    t = 300.0 * np.arange(600)
    bank.process(np.full(600, slot), t, 10.0 + np.sin(t / 5000.0))
    state = bank.export_slot(slot)
    older = dict(state, **{"forecaster.inverse": state["forecaster.inverse"].astype(np.float64)})
    upgraded = upgrade(older, 13, bank)
    assert upgraded["forecaster.inverse"].dtype == np.float32
    np.testing.assert_array_equal(upgraded["forecaster.inverse"], state["forecaster.inverse"])
    copy = bank.import_slot(upgraded)
    a = bank.process(np.array([slot, copy]), np.full(2, t[-1] + 300.0), np.full(2, 10.5))
    assert a.anomaly_score[0] == a.anomaly_score[1] and a.expected[0] == a.expected[1]


def test_version_14_state_gains_an_empty_weekly_season_and_scores_on():
    """The upgrade to format 15 adds the weekly season as a new series has it: the daily
    profile alone scores on (no hour of the week known), bit for bit as before."""
    from detectors.bank import StackBank
    from detectors.state_format import upgrade

    bank = StackBank()
    slot = bank.add_series()
    t = 300.0 * np.arange(900)
    bank.process(np.full(900, slot), t, 10.0 + np.sin(t / 5000.0))
    state = bank.export_slot(slot)
    older = {k: v for k, v in state.items() if not k.startswith("weekly.")}
    upgraded = upgrade(older, 14, bank)
    assert np.isnan(upgraded["weekly.corrections"]).all()
    copy = bank.import_slot(upgraded)
    daily = StackBank(weekly_season=False)
    alone = daily.import_slot(upgraded)
    a = bank.process(np.array([copy]), np.array([t[-1] + 300.0]), np.array([10.5]))
    b = daily.process(np.array([alone]), np.array([t[-1] + 300.0]), np.array([10.5]))
    assert a.anomaly_score[0] == b.anomaly_score[0] and a.expected[0] == b.expected[0]
