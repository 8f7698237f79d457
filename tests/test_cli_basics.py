"""The ``lookout`` command as a shell sees it: ``--version``, a pipe closed early, the demo."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stream.cli import EXIT_BROKEN_PIPE, main

REPO = Path(__file__).resolve().parents[1]
OWN = REPO / "tests" / "data" / "own"
LOOKOUT = [sys.executable, "-m", "stream.cli"]


def test_version_is_the_installed_package_version(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out == f"lookout {importlib.metadata.version('lookout')}\n"


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("own_results")
    assert main(["replay", str(OWN), "--out", str(out), "--no-progress"]) == 0
    return out


def test_evaluate_into_head_ends_quietly(results):
    # A real shell pipe: head keeps two lines and exits; lookout must not print a traceback.
    done = subprocess.run(
        [
            "bash",
            "-c",
            'set -o pipefail; "$@" | head -n 2',
            "bash",
            *LOOKOUT,
            "evaluate",
            str(results),
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.stdout.splitlines() == ["{", '  "nab": {},']
    assert done.stderr == ""
    assert done.returncode in (0, EXIT_BROKEN_PIPE)


def test_a_pipe_closed_before_any_output_ends_quietly(results):
    # The reader is gone before lookout writes a byte: the write itself fails (EPIPE).
    process = subprocess.Popen(
        [*LOOKOUT, "evaluate", str(results)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == EXIT_BROKEN_PIPE
    assert stderr == "", stderr


def test_demo_installs_the_package_alone_and_runs(tmp_path):
    script = (REPO / "scripts" / "demo.sh").read_text()
    installs = [line for line in script.splitlines() if "pip install" in line]
    assert installs == ["    .venv/bin/python -m pip install --quiet -e ."]  # no [test] extra
    assert "setup.sh" not in script and "install_services" not in script
    assert "services.py" not in script  # no Kafka, Prometheus or Alertmanager

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", REPO / "scripts" / "demo.sh", tmp_path / "results", tmp_path / "report"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "NAB score" in done.stdout
    assert (tmp_path / "report" / "index.html").is_file()
