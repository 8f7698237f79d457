"""Run real Kafka, Prometheus or Alertmanager on 127.0.0.1 for development and tests.

Usage: ``python scripts/services.py kafka|prometheus|alertmanager start [options]`` and
``python scripts/services.py kafka fetch``; ``--help`` on each lists the options.

The code lives in the package ``scripts/lookout_services/`` beside this file (Python code imports
``scripts.lookout_services``); this file is only its command-line entry point.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    # Run as a script, this file's folder is sys.path[0], so the package imports by its name.
    from lookout_services.cli import main

    sys.exit(main())
