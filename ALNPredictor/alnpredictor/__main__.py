"""``python -m alnpredictor`` = the ``alnpredictor`` command."""

import sys

from alnpredictor.cli import main

sys.exit(main())
