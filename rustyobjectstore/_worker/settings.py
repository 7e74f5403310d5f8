"""The pool's settings (``StaticConfig``): fixed for a pool's life, and known to the worker layer
alone (part sizes, the arena, timeouts); no cloud and no credential is named here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from rustyobjectstore._errors import ConfigurationError

MiB = 1024 * 1024


@dataclass(frozen=True)
class StaticConfig:
    """Settings of the worker pool, fixed for its life; given to ``init_object_store`` before
    the first call (README, "API", lists the fields and their defaults):
    ``init_object_store(StaticConfig(n_workers=8, call_timeout_secs=60))``."""

    n_workers: int = field(default_factory=lambda: max(1, min(4, os.cpu_count() or 1)))
    concurrency_limit: int = 512
    cache_capacity: int = 20
    #: How long a worker keeps a built store (its HTTP client), and how long one may go unused;
    #: 0: no limit.
    cache_ttl_secs: int = 1800
    cache_tti_secs: int = 300
    multipart_put_threshold: int = 10 * MiB
    multipart_get_threshold: int = 8 * MiB
    multipart_get_part_size: int = 8 * MiB
    worker_path: str | None = None
    #: Shared memory per worker through which every payload passes.
    arena_size: int = 256 * MiB
    #: Part size of multipart uploads (S3 needs at least 5 MiB).
    multipart_put_part_size: int = 8 * MiB
    #: Parts or ranges of one object moving at once.
    max_parallel_parts: int = 4
    #: A read (get, head, list's first page, download) whose worker dies is tried again this many
    #: times on a fresh worker; a write is not, unless ``crash_retries_for_writes`` says so (a write
    #: that reached the store before the crash would then be repeated).
    crash_retries_for_reads: int = 1
    crash_retries_for_writes: int = 0
    #: A worker with calls in flight that has sent nothing for this long is pinged; if the ping is
    #: not answered within as long again, the worker is taken to have stopped (SIGSTOP, a hang)
    #: and is killed, which fails (or, for reads, retries) its calls. 0 turns the watchdog off.
    worker_stall_secs: float = 30.0
    #: Every call must finish within this many seconds or raise ``DeadlineExceededError`` (its
    #: requests are cancelled in the worker); None: no deadline. A ``deadline()`` block sets one for
    #: the calls inside it instead.
    call_timeout_secs: float | None = None

    def __post_init__(self) -> None:
        positive = (
            "n_workers",
            "concurrency_limit",
            "cache_capacity",
            "multipart_get_part_size",
            "multipart_put_part_size",
            "max_parallel_parts",
            "arena_size",
            "multipart_put_threshold",
            "multipart_get_threshold",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ConfigurationError(
                    f"StaticConfig.{name} must be a positive integer, got {value!r}"
                )
        for name in ("crash_retries_for_reads", "crash_retries_for_writes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ConfigurationError(
                    f"StaticConfig.{name} must be a whole number, got {value!r}"
                )
        if not isinstance(self.worker_stall_secs, (int, float)) or self.worker_stall_secs < 0:
            raise ConfigurationError(
                f"StaticConfig.worker_stall_secs must be a number >= 0, got {self.worker_stall_secs!r}"
            )
        timeout = self.call_timeout_secs
        if timeout is not None and (not isinstance(timeout, (int, float)) or not timeout > 0):
            raise ConfigurationError(
                f"StaticConfig.call_timeout_secs must be a positive number or None, got {timeout!r}"
            )
        if self.multipart_put_part_size < 5 * MiB:
            raise ConfigurationError("StaticConfig.multipart_put_part_size must be at least 5 MiB")
        biggest = max(
            self.multipart_put_threshold, self.multipart_get_part_size, self.multipart_put_part_size
        )
        if self.arena_size < 2 * biggest:
            raise ConfigurationError(
                f"StaticConfig.arena_size ({self.arena_size}) must be at least twice the largest "
                f"part or single-put size ({biggest})"
            )
