"""``python scripts/chaos`` (or ``python -m chaos`` with ``scripts`` on the path)."""

import sys
from pathlib import Path

if not __package__:  # run as a directory: make scripts/ the path's head, so `chaos` is this package
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from chaos.cli import main

try:
    sys.exit(main())
except KeyboardInterrupt:
    sys.exit(130)
