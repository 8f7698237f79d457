"""The SMD corpus (labelled 1-minute server metrics) as a :class:`~sim.nab_corpus.NabCorpus`.

``../shared/data/smd`` (see its README) holds 44 series of 14 machines of the Server Machine
Dataset in NAB's layout: ``data/smd/<machine>_d<NN>.csv`` and ``labels/combined_windows.json``,
whose windows follow NAB's rule for point-labelled data. So the windows are already in the
format the NAB scorer and :mod:`sim.evaluation` read; this module opens the folder, checks that
labels and data match, and picks subsets by machine (the machines, not the files, are the
independent units: the files of one machine share their incidents).

Examples
--------
>>> import tempfile, json
>>> with tempfile.TemporaryDirectory() as tmp:
...     root = Path(tmp)
...     (root / "data/smd").mkdir(parents=True)
...     (root / "labels").mkdir()
...     for name in ("machine-1-2_d07", "machine-1-2_d05", "machine-2-1_d09"):
...         _ = (root / f"data/smd/{name}.csv").write_text("timestamp,value\\n2019-01-08,0.5\\n")
...     _ = (root / "labels/combined_windows.json").write_text(json.dumps(
...         {"smd/machine-1-2_d07.csv": [["2019-01-08 00:00:00", "2019-01-08 00:05:00"]],
...          "smd/machine-1-2_d05.csv": [], "smd/machine-2-1_d09.csv": []}))
...     corpus = load_smd(root, machines=1)
>>> corpus.relpaths, len(corpus.windows_of("smd/machine-1-2_d07.csv"))
(['smd/machine-1-2_d05.csv', 'smd/machine-1-2_d07.csv'], 1)
"""

from __future__ import annotations

import os
from pathlib import Path

from sim.nab_corpus import NabCorpus, load_windows

__all__ = ["DEFAULT_SMD_DIR", "load_smd", "machine_of"]

DEFAULT_SMD_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "smd"


def machine_of(relpath: str) -> str:
    """The machine a file belongs to.

    >>> machine_of("smd/machine-1-2_d07.csv")
    'machine-1-2'
    """
    return Path(relpath).stem.rsplit("_d", 1)[0]


def load_smd(
    smd_dir: str | os.PathLike = DEFAULT_SMD_DIR, machines: int | None = None
) -> NabCorpus:
    """Open the SMD folder; with ``machines``, only the files of its first ``machines`` machines
    (in name order). Raises ``FileNotFoundError`` without data or labels and ``ValueError`` when
    labels and data files do not match."""
    smd_dir = Path(smd_dir)
    labels = smd_dir / "labels" / "combined_windows.json"
    if not labels.is_file():
        raise FileNotFoundError(f"SMD labels not found: {labels}")
    corpus = NabCorpus(smd_dir / "data", load_windows(labels))
    unlabelled = sorted(set(corpus.relpaths) - set(corpus.windows))
    if unlabelled or not corpus.relpaths:
        raise ValueError(
            f"{smd_dir}: {len(unlabelled)} data files have no entry in {labels.name} "
            f"({', '.join(unlabelled[:3])}...)"
            if unlabelled
            else f"{smd_dir}: no data files"
        )
    if machines is not None:
        chosen = sorted({machine_of(relpath) for relpath in corpus.relpaths})[:machines]
        corpus.relpaths = [r for r in corpus.relpaths if machine_of(r) in chosen]
    return corpus
