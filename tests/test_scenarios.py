import json

import numpy as np
import pandas as pd
import pytest

from sim.labeled import LabeledSeries, window_labels
from sim.scenarios import (
    SCENARIOS,
    SRE_KINDS,
    SRE_LEVEL,
    WARMUP_FRACTION,
    daily_job,
    ddos,
    ddos_requests,
    generate,
    job_mask,
    sre,
    write_nab_folder,
)

FIVE_MINUTES = pd.Timedelta(minutes=5)


def _by_kind(series_list):
    return {s.kind: s for s in series_list}


def _runs(mask):
    padded = np.concatenate([[False], mask, [False]]).astype(int)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2], edges[1::2] - 1, strict=True))


# ------------------------------------------------------------------------------ determinism


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_same_seed_gives_identical_series(name):
    first, second = generate(name, seed=7), generate(name, seed=7)
    assert [s.name for s in first] == [s.name for s in second]
    for a, b in zip(first, second, strict=True):
        pd.testing.assert_frame_equal(a.frame, b.frame)
        assert a.windows == b.windows
        assert a.kind == b.kind


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_different_seeds_give_different_series(name):
    first, second = generate(name, seed=1), generate(name, seed=2)
    for a, b in zip(first, second, strict=True):
        assert not a.frame.equals(b.frame)
    if name != "quiet":  # incident-free: no windows to move
        assert [s.windows for s in first] != [s.windows for s in second]


def test_quiet_noise_has_no_incident_and_its_shapes():
    series = {s.name: s for s in generate("quiet", seed=0)}
    assert all(not s.windows and not s.labels().any() for s in series.values())
    errors = series["sparse_errors"].frame["value"]
    assert set(errors.unique()) <= set(range(10)) and errors.mean() == pytest.approx(0.2, rel=0.1)
    assert series["replicas"].frame["value"].isin(range(2, 7)).all()
    latency = series["latency_heavy_tail"].frame["value"]
    assert latency.max() > 5 * latency.median()  # a heavy tail, not Gaussian noise


def test_generate_looks_scenarios_up_by_name():
    via_registry = generate("sre", seed=3)
    direct = sre(seed=3)
    for a, b in zip(via_registry, direct, strict=True):
        pd.testing.assert_frame_equal(a.frame, b.frame)
    with pytest.raises(KeyError, match="unknown scenario"):
        generate("earthquake")


# ------------------------------------------------------------------------------ windows


@pytest.mark.parametrize("name", sorted(SCENARIOS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_windows_fall_inside_the_data_after_warm_up(name, seed):
    for series in generate(name, seed=seed):
        timestamps = series.frame["timestamp"]
        first, last = timestamps.iloc[0], timestamps.iloc[-1]
        warm_up_end = first + WARMUP_FRACTION * (last - first)
        for start, end in series.windows:
            assert warm_up_end <= start <= end <= last
            assert window_labels(timestamps, [(start, end)]).any(), "window holds no point"
        for (_, end), (next_start, _) in zip(series.windows, series.windows[1:], strict=False):
            assert end < next_start, "windows overlap or are unsorted"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_frames_have_timestamp_and_value_sorted(name):
    for series in generate(name):
        assert list(series.frame.columns) == ["timestamp", "value"]
        assert series.frame["timestamp"].is_monotonic_increasing
        assert series.frame["value"].notna().all()


# ------------------------------------------------------------------------------ ddos


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_ddos_malicious_fraction_is_exactly_two_percent(seed):
    table = ddos_requests(seed=seed)
    assert len(table) == 10_000
    assert int(table["malicious"].sum()) == 200
    assert table["timestamp"].diff().dropna().eq(pd.Timedelta(seconds=1)).all()


def test_ddos_malicious_points_come_in_bursts_each_in_its_own_window():
    table = ddos_requests(seed=5, n_bursts=3)
    bursts = _runs(table["malicious"].to_numpy())
    assert len(bursts) == 3
    (rate, payload) = ddos(seed=5, n_bursts=3)
    assert rate.windows == payload.windows
    assert len(rate.windows) == len(bursts)
    timestamps = table["timestamp"]
    for (first, last), (start, end) in zip(bursts, rate.windows, strict=True):
        assert start < timestamps[first] and timestamps[last] < end  # padded both sides
    labels = rate.labels()
    malicious = table["malicious"].to_numpy()
    assert labels[malicious].all()
    # Padding is small: labeled points stay close to the malicious ones.
    assert labels.sum() <= malicious.sum() + 2 * 10 * len(bursts)


def test_ddos_distributions_match_the_specification():
    table = ddos_requests(seed=0)
    bad = table[table["malicious"]]
    good = table[~table["malicious"]]
    assert bad["request_rate"].mean() == pytest.approx(300, abs=15)
    assert bad["payload_size"].mean() == pytest.approx(5000, abs=300)
    assert good["request_rate"].mean() == pytest.approx(50, abs=1)
    assert good["request_rate"].std() == pytest.approx(10, abs=1)
    assert good["payload_size"].mean() == pytest.approx(1024, abs=15)
    rate, payload = ddos(seed=0)
    np.testing.assert_array_equal(rate.frame["value"], table["request_rate"])
    np.testing.assert_array_equal(payload.frame["value"], table["payload_size"])


# ------------------------------------------------------------------------------ sre


def test_sre_has_one_series_per_kind_with_three_incidents():
    series_list = sre(seed=0)
    assert [s.kind for s in series_list] == list(SRE_KINDS)
    assert all(len(s.windows) == 3 for s in series_list if s.kind != "data_gap")
    spike = _by_kind(series_list)["spike"]
    assert len(spike.frame) == 28 * 24 * 12
    assert spike.frame["timestamp"].diff().dropna().eq(FIVE_MINUTES).all()


def test_sre_baseline_has_daily_and_weekly_seasonality():
    frame = _by_kind(sre(seed=0))["spike"].frame
    hour = frame["timestamp"].dt.hour
    weekend = frame["timestamp"].dt.day_of_week >= 5
    afternoon = frame["value"][(hour == 15) & ~weekend].median()
    night = frame["value"][(hour == 3) & ~weekend].median()
    assert afternoon > 1.8 * night
    assert frame["value"][weekend].median() < 0.85 * frame["value"][~weekend].median()


def _incident_slices(series: LabeledSeries):
    """Frame rows of each incident, without the 30-minute window padding."""
    margin = pd.Timedelta(minutes=30)
    timestamps = series.frame["timestamp"]
    return [
        series.frame[(timestamps >= start + margin) & (timestamps <= end - margin)]
        for start, end in series.windows
    ]


def test_spikes_stand_out_inside_their_windows():
    series = _by_kind(sre(seed=1))["spike"]
    typical = series.frame["value"].median()
    for incident in _incident_slices(series):
        assert 1 <= len(incident) <= 3
        assert incident["value"].max() > 1.5 * typical


def test_level_shifts_move_the_level_against_the_same_time_a_week_away():
    series = _by_kind(sre(seed=2))["level_shift"]
    values = series.frame["value"].to_numpy()
    week = 7 * 24 * 12
    for incident in _incident_slices(series):
        index = incident.index.to_numpy()
        other = index - week if index[0] >= week else index + week
        ratio = values[index].mean() / values[other].mean()
        assert ratio > 1.25 or ratio < 0.75


def test_drift_rises_then_drops_at_the_restart():
    series = _by_kind(sre(seed=3))["drift"]
    values = series.frame["value"].to_numpy()
    for incident in _incident_slices(series):
        last = incident.index[-1]
        assert len(incident) >= 12 * 12
        assert values[last] - values[last + 1] > 0.5 * SRE_LEVEL


def test_variance_bursts_widen_the_noise():
    series = _by_kind(sre(seed=4))["variance_burst"]
    jitter = series.frame["value"].diff().abs()
    labels = series.labels()
    for incident in _incident_slices(series):
        assert jitter[incident.index[1:]].median() > 3 * jitter[~labels].median()


def test_outages_are_flat_at_zero_only_inside_windows():
    series = _by_kind(sre(seed=5))["outage"]
    zero = series.frame["value"].to_numpy() == 0
    labels = series.labels()
    assert not zero[~labels].any()
    for incident in _incident_slices(series):
        assert len(incident) >= 6
        assert (incident["value"] == 0).all()


def test_data_gaps_remove_points_and_are_not_incidents():
    series = _by_kind(sre(seed=6))["data_gap"]
    steps = series.frame["timestamp"].diff()
    gaps = steps[steps > FIVE_MINUTES]
    assert len(gaps) == 3
    assert (gaps >= pd.Timedelta(hours=2)).all()
    assert series.windows == []


# ------------------------------------------------------------------------------ daily job


def test_job_mask_marks_three_points_at_0310_every_day():
    (series,) = daily_job(seed=0)
    mask = job_mask(series.frame)
    job_times = series.frame["timestamp"][mask]
    assert mask.sum() == 28 * 3
    assert set(job_times.dt.strftime("%H:%M")) == {"03:10", "03:15", "03:20"}
    assert job_times.dt.date.nunique() == 28


def test_daily_job_spikes_but_carries_no_window():
    (series,) = daily_job(seed=1)
    mask = job_mask(series.frame)
    timestamps = series.frame["timestamp"]
    before_job = (timestamps.dt.hour == 2) | ((timestamps.dt.hour == 3) & ~mask)
    assert series.frame["value"][mask].mean() > 2 * series.frame["value"][before_job].mean()
    assert not (series.labels() & mask).any()


def test_daily_job_has_one_real_incident_outside_job_hours():
    (series,) = daily_job(seed=2)
    assert len(series.windows) == 1
    (start, end) = series.windows[0]
    assert 12 <= start.hour and end.hour <= 18
    inside = series.frame["value"][series.labels()]
    assert inside.max() > 2 * series.frame["value"].median()


# ------------------------------------------------------------------------------ NAB output


def test_write_nab_folder_round_trips_through_pandas_and_json(tmp_path):
    series_list = ddos(seed=4)
    paths = write_nab_folder(series_list, tmp_path, "synthetic_ddos")
    assert paths == [tmp_path / "data" / "synthetic_ddos" / f"{s.name}.csv" for s in series_list]
    labels = json.loads((tmp_path / "labels" / "combined_windows.json").read_text())
    for series in series_list:
        text = (tmp_path / "data" / "synthetic_ddos" / f"{series.name}.csv").read_text()
        assert text.splitlines()[0] == "timestamp,value"
        assert text.splitlines()[1].startswith("2024-01-01 00:00:00,")
        back = pd.read_csv(tmp_path / "data" / "synthetic_ddos" / f"{series.name}.csv")
        back["timestamp"] = pd.to_datetime(back["timestamp"], format="%Y-%m-%d %H:%M:%S")
        pd.testing.assert_frame_equal(back, series.frame, check_dtype=False)
        windows = labels[f"synthetic_ddos/{series.name}.csv"]
        assert [[pd.Timestamp(a), pd.Timestamp(b)] for a, b in windows] == [
            list(w) for w in series.windows
        ]
        assert all(len(a) == len("2024-01-01 00:00:00.000000") for a, _ in windows)


def test_write_nab_folder_merges_labels_across_categories(tmp_path):
    write_nab_folder(ddos(seed=0), tmp_path, "ddos")
    write_nab_folder(daily_job(seed=0), tmp_path, "jobs")
    write_nab_folder(daily_job(seed=1), tmp_path, "jobs")  # rewriting replaces, not appends
    labels = json.loads((tmp_path / "labels" / "combined_windows.json").read_text())
    assert sorted(labels) == [
        "ddos/payload_size.csv",
        "ddos/request_rate.csv",
        "jobs/daily_job.csv",
    ]
    (latest,) = daily_job(seed=1)
    assert [pd.Timestamp(a) for a, _ in labels["jobs/daily_job.csv"]] == [
        start for start, _ in latest.windows
    ]
