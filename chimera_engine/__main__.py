"""``python -m chimera_engine`` is the ``chimera`` command."""

from __future__ import annotations

import sys

from chimera_engine.cli import main

sys.exit(main())
