"""The pool's life: started by ``init_object_store`` or on the first call, shut down by
``shutdown_object_store`` and at the interpreter's exit, abandoned in a forked child (which starts
its own on its first call)."""

from __future__ import annotations

import atexit
import os
import threading

from rustyobjectstore._errors import ConfigurationError, WorkerCrashedError
from rustyobjectstore._worker.forks import POOL, after_fork_in_child
from rustyobjectstore._worker.pool import Pool
from rustyobjectstore._worker.settings import StaticConfig

_lock = threading.Lock()
_pool: Pool | None = None
# What a pool started on demand uses: set by init_object_store, inherited by a forked child.
_settings: StaticConfig | None = None
# Set once the interpreter's exit has shut the pool down: a daemon thread still calling must not
# start a new pool (its workers would only die with the process).
_exiting = False


def init_object_store(config: StaticConfig | None = None) -> None:
    """Starts the worker pool (optional: the first operation starts one with the default
    ``StaticConfig``). Calling it again with the same (or no) configuration does nothing; with
    another one it is a ``ConfigurationError`` until ``shutdown_object_store()``:
    ``init_object_store(StaticConfig(n_workers=8, call_timeout_secs=60))``."""
    global _pool, _settings
    with _lock:
        if _pool is not None and _pool.pid == os.getpid():
            if config is None or config == _pool.settings:
                return
            raise ConfigurationError(
                "the object store is already running with another StaticConfig; "
                "call shutdown_object_store() first"
            )
        _settings = config or StaticConfig()
        _pool = Pool(_settings)


def shutdown_object_store() -> None:
    """Stops every worker. Calls made afterwards start a fresh default pool; to change the
    pool's settings: ``shutdown_object_store(); init_object_store(StaticConfig(n_workers=2))``."""
    global _pool, _settings
    with _lock:
        pool, _pool, _settings = _pool, None, None
    if pool is not None and pool.pid == os.getpid():
        pool.close()


def _shutdown_at_exit() -> None:
    global _exiting
    _exiting = True
    shutdown_object_store()


atexit.register(_shutdown_at_exit)


def _after_fork_in_child() -> None:
    """A forked child never touches its parent's workers: it drops its copies of their pipes (so
    they still see EOF when the parent goes) and starts its own pool on its first call."""
    global _exiting, _lock, _pool
    _lock = threading.Lock()  # it may have been held by a thread that did not survive the fork
    _exiting = False  # the child has its own life, and its own exit
    pool, _pool = _pool, None
    if pool is not None:
        pool.abandon()


after_fork_in_child(POOL, _after_fork_in_child)


def running_pool() -> Pool | None:
    """This process's pool if it is running, without starting one."""
    pool = _pool
    return pool if pool is not None and pool.pid == os.getpid() else None


def current_pool() -> Pool:
    """The running pool, started on first use (and anew, with the same settings, in a forked
    child)."""
    global _pool
    pool = running_pool()  # the common case, without the lock
    if pool is not None:
        return pool
    with _lock:
        if _pool is None or _pool.pid != os.getpid():
            if _exiting:
                raise WorkerCrashedError(
                    "the interpreter is exiting: the object store pool is shut down", op="start"
                )
            _pool = Pool(_settings or StaticConfig())
        return _pool
