"""``python -m maskstudio`` is the same as the ``maskstudio`` command."""

import sys

from maskstudio.cli import main

sys.exit(main())
