"""The Numenta Anomaly Benchmark in one import: corpus loading and NAB scoring.

`sim.nab_corpus` reads the files (data, label windows, cost profiles, detector results);
`sim.nab_scoring` scores detector results the way NAB v1.1 does. A typical run::

    corpus = NabCorpus.from_nab_dir("/work/shared/data/nab")
    results = load_results("results/mydetector", corpus.relpaths)
    nab_scores(results, corpus.windows, load_profiles("/work/shared/data/nab/profiles.json"))

Examples
--------
>>> import numpy as np, pandas as pd
>>> stamps = pd.date_range("2024-01-01", periods=10, freq="5min")
>>> frame = pd.DataFrame({"timestamp": stamps, "anomaly_score": np.zeros(10)})
>>> nab_scores({"a.csv": frame}, {"a.csv": [(stamps[5], stamps[6])]}, {"standard": CostProfile()},
...            threshold=0.5)
{'standard': {'score': 0.0, 'raw_score': -1.0, 'threshold': 0.5}}
"""

from sim.nab_corpus import (
    CostProfile,
    NabCorpus,
    Window,
    labels_from_windows,
    load_profiles,
    load_results,
    load_windows,
    match_result_files,
    read_timeseries,
)
from sim.nab_scoring import (
    ONSET_SCORE,
    PROBATION_PERCENT,
    SWEEP_START_THRESHOLD,
    CorpusSweep,
    FileGeometry,
    detection_scores,
    nab_scores,
    normalized_score,
    onset_column,
    optimize_threshold,
    probation_length,
    scaled_sigmoid,
    score_corpus,
)

__all__ = [
    "ONSET_SCORE",
    "PROBATION_PERCENT",
    "SWEEP_START_THRESHOLD",
    "CorpusSweep",
    "CostProfile",
    "FileGeometry",
    "NabCorpus",
    "Window",
    "detection_scores",
    "labels_from_windows",
    "load_profiles",
    "load_results",
    "load_windows",
    "match_result_files",
    "nab_scores",
    "normalized_score",
    "onset_column",
    "optimize_threshold",
    "probation_length",
    "read_timeseries",
    "scaled_sigmoid",
    "score_corpus",
]
