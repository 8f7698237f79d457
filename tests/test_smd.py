"""The SMD corpus (sim.smd) read as NAB-layout data: the counts its README states, windows in the
format the NAB scorer reads, subsets by machine.

The corpus lives outside the repository (``LOOKOUT_SMD_DIR``, default
``<repo>/../shared/data/smd``); without it these tests skip locally and fail on CI.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from sim.evaluation import BUNDLED_PROFILES, load_profiles
from sim.nab import nab_scores
from sim.smd import DEFAULT_SMD_DIR, load_smd, machine_of

SMD_DIR = Path(os.environ.get("LOOKOUT_SMD_DIR", DEFAULT_SMD_DIR))


@pytest.fixture(scope="module")
def smd_dir() -> Path:
    if not (SMD_DIR / "labels" / "combined_windows.json").is_file():
        reason = f"SMD corpus not found at {SMD_DIR} (set LOOKOUT_SMD_DIR)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return SMD_DIR


def test_the_corpus_has_the_files_and_windows_its_readme_states(smd_dir):
    corpus = load_smd(smd_dir)
    assert len(corpus) == 44
    assert len({machine_of(relpath) for relpath in corpus.relpaths}) == 14
    assert sum(len(corpus.windows_of(relpath)) for relpath in corpus.relpaths) == 174
    assert sum(1 for relpath in corpus.relpaths if corpus.windows_of(relpath)) == 28
    start, end = corpus.windows_of("smd/machine-1-2_d07.csv")[0]
    assert isinstance(start, pd.Timestamp) and start < end


def test_a_subset_by_machine_scores_perfectly_with_its_own_labels(smd_dir):
    corpus = load_smd(smd_dir, machines=2)
    assert {machine_of(relpath) for relpath in corpus.relpaths} == {"machine-1-2", "machine-1-3"}
    results = {}
    for relpath in corpus.relpaths:
        frame = corpus.frame(relpath)
        labels = corpus.label_series(relpath).astype(float)
        starts = (labels == 1) & (pd.Series(labels).shift(fill_value=0).to_numpy() == 0)
        results[relpath] = pd.DataFrame({"timestamp": frame["timestamp"], "anomaly_score": starts})
    scores = nab_scores(results, corpus.windows, load_profiles(BUNDLED_PROFILES), threshold=0.5)
    assert scores["standard"]["score"] == pytest.approx(100.0)


def test_a_folder_without_labels_is_a_clear_error(tmp_path):
    (tmp_path / "data").mkdir()
    with pytest.raises(FileNotFoundError, match="SMD labels not found"):
        load_smd(tmp_path)
