"""``python -m pywats.gui``: start the desktop client."""

from __future__ import annotations

import sys

from pywats.gui._app import main

sys.exit(main())
