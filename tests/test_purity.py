"""The detector core is pure: importing and running it loads no Kafka or Prometheus client."""

import subprocess
import sys


def test_detectors_do_not_import_io_clients():
    code = (
        "import sys\n"
        "from detectors import DetectorStack\n"
        "stack = DetectorStack(grace_period=5)\n"
        "for t in range(50): stack.process(float(t), float(t % 7))\n"
        "mods = ('kafka', 'prometheus_client', 'logging.handlers')\n"
        "loaded = [m for m in mods if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
