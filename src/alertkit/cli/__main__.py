"""``python -m alertkit.cli ...`` runs the ``alertkit`` command."""

import sys

from alertkit.cli import main

sys.exit(main())
