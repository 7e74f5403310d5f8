"""``python scripts/bench`` (or ``python -m bench`` with ``scripts`` on the path)."""

import sys
from pathlib import Path

if not __package__:  # run as a directory: make scripts/ the path's head, so `bench` is this package
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.cli import main

sys.exit(main())
