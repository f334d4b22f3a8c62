"""``python -m edge.cli``: the same as the ``tensorchicken`` command."""

import sys

from edge.cli import main

sys.exit(main())
