"""Run by ``test_exit.py`` in a fresh interpreter: one operation of ``sweep_ops`` against every
refusal server named on the command line, each error caught and dropped as a script would (what it
leaves for the garbage collector, the collector may reach only at interpreter exit); in the mode
"uncaught", the last refusal's error is not caught. The interpreter must then exit on its own,
promptly: status 0 once it printed "refused N", or 1 with the uncaught error.

    python exit_child.py OPERATION caught|uncaught SCRATCH_DIR ENDPOINT [ENDPOINT ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

from sweep_ops import OPERATIONS, fault_config

operation = OPERATIONS[sys.argv[1]]
uncaught = sys.argv[2] == "uncaught"
scratch = Path(sys.argv[3])
endpoints = sys.argv[4:]
refused = 0
for i, endpoint in enumerate(endpoints):
    conf = fault_config(endpoint, max_retries=0, request_timeout_secs=0.3)
    if uncaught and i == len(endpoints) - 1:
        print(f"refused {refused}", flush=True)
        operation(conf, scratch)
    try:
        operation(conf, scratch)
    except Exception:
        refused += 1
print(f"refused {refused}", flush=True)
