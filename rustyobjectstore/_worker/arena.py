"""The payload arena: shared memory made here, passed to one worker as an fd, mapped once by both.

Regions are allocated here (first fit, lowest address first, so a steady workload keeps reusing the
same, already-faulted pages) and returned only when the response of the request that named them has
arrived (``release_after``), so the worker never writes into memory that was handed to someone else.
Closing unmaps only once every region is back: a call may still be copying out of its region when
another call finds the worker dead and replaces it.
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import mmap
import os
import tempfile
import threading
from collections import deque
from concurrent.futures import Future
from typing import Any

from rustyobjectstore._errors import WorkerCrashedError
from rustyobjectstore._worker.codec import Region

_ALIGN = 64


def _make_fd(size: int) -> int:
    """A memfd sealed against resizing (a shrunk mapping would SIGBUS the reader); where memfd does not
    exist, an unlinked temp file with its blocks reserved up front (ENOSPC now, not SIGBUS later)."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("rustyobjectstore-arena", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.ftruncate(fd, size)
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW)
        except BaseException:
            os.close(fd)
            raise
        return fd
    fd, path = tempfile.mkstemp(prefix="rustyobjectstore-arena-")
    try:
        os.unlink(path)
        if hasattr(os, "posix_fallocate"):
            os.posix_fallocate(fd, 0, size)
        else:
            os.ftruncate(fd, size)
    except BaseException:
        os.close(fd)
        raise
    return fd


class Arena:
    def __init__(self, size: int) -> None:
        self.size = size
        self.fd = _make_fd(size)
        self._map = mmap.mmap(self.fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self._view = memoryview(self._map)
        self._lock = threading.Lock()
        self._free: list[list[int]] = [[0, size]]  # [offset, length], sorted by offset
        self._free_total = size  # their lengths' sum: asked after every read of a reader
        self._waiters: deque[tuple[int, Future[Region]]] = deque()
        self._closed = False
        self._unmapped = False

    def take(self, length: int) -> Region | None:
        """A region of ``length`` bytes if one is free now and nobody waits before this caller."""
        return self._grant(length, None)

    def allocate(self, length: int) -> Future[Region]:
        """A region of ``length`` bytes, now or when enough is released (FIFO)."""
        future: Future[Region] = Future()
        future.set_running_or_notify_cancel()
        region = self._grant(length, future)
        if region is not None:
            future.set_result(region)
        return future

    def _grant(self, length: int, waiter: Future[Region] | None) -> Region | None:
        """A region now, or None after queueing ``waiter`` (if any) for the next release."""
        if length == 0:
            return (0, 0)
        if length > self.size:
            raise ValueError(f"a {length}-byte region cannot fit a {self.size}-byte arena")
        with self._lock:
            if self._unmapped:
                raise WorkerCrashedError("the worker is gone and its shared memory with it")
            region = None if self._waiters else self._take(length)
            if region is None and waiter is not None:
                self._waiters.append((length, waiter))
            return region

    def _take(self, length: int) -> Region | None:
        need = (length + _ALIGN - 1) // _ALIGN * _ALIGN
        for i, block in enumerate(self._free):
            if block[1] >= need:
                offset = block[0]
                if block[1] == need:
                    del self._free[i]
                else:
                    block[0] += need
                    block[1] -= need
                self._free_total -= need
                return (offset, length)
        return None

    def release(self, region: Region) -> None:
        offset, length = region
        if length == 0:
            return
        need = (length + _ALIGN - 1) // _ALIGN * _ALIGN
        granted: list[tuple[Future[Region], Region]] = []
        with self._lock:
            free = self._free
            i = bisect.bisect_left(free, offset, key=lambda block: block[0])
            free.insert(i, [offset, need])
            self._free_total += need
            if i + 1 < len(free) and free[i][0] + free[i][1] == free[i + 1][0]:
                free[i][1] += free.pop(i + 1)[1]
            if i > 0 and free[i - 1][0] + free[i - 1][1] == free[i][0]:
                free[i - 1][1] += free.pop(i)[1]
            while self._waiters:
                want, waiter = self._waiters[0]
                got = self._take(want)
                if got is None:
                    break
                self._waiters.popleft()
                granted.append((waiter, got))
            unmap = self._closed and not self._unmapped and self._all_free()
        for waiter, got in granted:
            waiter.set_result(got)
        if unmap:
            self._unmap()

    def _all_free(self) -> bool:
        return len(self._free) == 1 and self._free[0] == [0, self.size]

    def release_after(self, responses: Future[Any] | list[Future[Any]], region: Region) -> None:
        """Releases ``region`` once ``responses`` (the requests that named it) have all resolved."""
        waiting = [responses] if isinstance(responses, Future) else list(responses)
        if not waiting:
            self.release(region)
            return
        left = [len(waiting)]
        count_lock = threading.Lock()

        def resolved(_: Future[Any]) -> None:
            with count_lock:
                left[0] -= 1
                last = left[0] == 0
            if last:
                self.release(region)

        for response in waiting:
            response.add_done_callback(resolved)

    def write(self, region: Region, data: memoryview) -> None:
        offset, length = region
        self._view[offset : offset + length] = data[:length]

    def read(self, region: Region, length: int) -> memoryview:
        """A view of the first ``length`` bytes of ``region``; the caller copies and drops it."""
        offset = region[0]
        return self._view[offset : offset + length]

    @property
    def waiting(self) -> int:
        """Calls waiting for a region: routed to this worker, not yet sent."""
        return len(self._waiters)

    @property
    def free_bytes(self) -> int:
        return self._free_total

    def abandon(self) -> None:
        """In a forked child: close this process's copy of the fd; the mapping goes with the process."""
        self._closed = True
        with contextlib.suppress(OSError):
            os.close(self.fd)

    def close(self) -> None:
        """Closes the fd now, and unmaps now or when the last region held is released."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            unmap = self._all_free()
        os.close(self.fd)
        if unmap:
            self._unmap()

    def _unmap(self) -> None:
        with self._lock:
            if self._unmapped:
                return
            self._unmapped = True
        try:
            self._view.release()
            self._map.close()
        except BufferError:
            pass  # a view lent past its region's release: the mapping goes when that view does
