"""What a forked child does before anything else: one registry of after-fork hooks, run in the
order stated here rather than in the order their modules happened to be imported.

The parent's threads do not exist in the child, and its workers' pipes are the parent's: each
layer that holds either drops its copies.
"""

from __future__ import annotations

import os
from collections.abc import Callable

#: The order hooks run in: queued finalizer work first (it names the parent's workers), then the
#: credential providers' locks, loop and timers, then the pool itself.
FINALIZERS, PROVIDERS, POOL = 10, 20, 30

_hooks: list[tuple[int, Callable[[], None]]] = []


def after_fork_in_child(order: int, hook: Callable[[], None]) -> None:
    """Runs ``hook`` in every forked child, at its ``order`` among the others."""
    _hooks.append((order, hook))
    _hooks.sort(key=lambda entry: entry[0])


def _run_hooks() -> None:
    for _, hook in _hooks:
        hook()


os.register_at_fork(after_in_child=_run_hooks)
