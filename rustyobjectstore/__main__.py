"""``python -m rustyobjectstore``: the command line (see ``rustyobjectstore._cli``)."""

from rustyobjectstore._cli import main

raise SystemExit(main())
