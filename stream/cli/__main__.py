"""``python -m stream.cli``: the ``lookout`` command."""

import sys

from stream.cli import main

sys.exit(main())
