"""``python -m infgram``: the same as the ``infgram`` command."""

import sys

from .cli import main

sys.exit(main())
