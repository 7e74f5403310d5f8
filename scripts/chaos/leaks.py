"""Leaks after shutdown (worker processes, library threads, file descriptors, files) and the
memory of the run (PSS of this process and its workers, sampled)."""

from __future__ import annotations

import gc
import os
import threading
import time
from pathlib import Path

from rustyobjectstore._worker.lifetime import current_pool

KiB = 1024


class WorkerPids:
    """Every worker process seen during the run (by the sampler, or killed), to look for later."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pids: set[int] = set()

    def add(self, *pids: int) -> None:
        with self._lock:
            self._pids.update(pids)

    def seen(self) -> set[int]:
        with self._lock:
            return set(self._pids)


class Sampler:
    """Peak PSS of this process plus its workers, and of the workers alone, every 0.25 s."""

    def __init__(self, pids: WorkerPids) -> None:
        self.pids = pids
        self.peak_pss = 0
        self.peak_workers = 0
        self.pss_source = "smaps_rollup"

    def run(self, stop: threading.Event) -> None:
        while True:
            pids = [c.pid for c in current_pool().connections if c.alive]
            self.pids.add(*pids)
            workers = sum(self.pss(pid) for pid in pids)
            self.peak_workers = max(self.peak_workers, workers)
            self.peak_pss = max(self.peak_pss, self.pss(os.getpid()) + workers)
            if stop.wait(0.25):
                return

    def pss(self, pid: int) -> int:
        """Proportional set size in bytes (shared arena pages split between their processes)."""
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        return int(line.split()[1]) * KiB
        except OSError:
            pass
        self.pss_source = "VmRSS"
        return status_kib(pid, "VmRSS") * KiB


def status_kib(pid: int | str, field_name: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def open_fds() -> dict[int, str]:
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            pass  # the listing's own fd, closed by now
    return fds


def children() -> set[int]:
    me = os.getpid()
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == me:
            found.add(int(entry))
    return found


def worker_alive(pid: int, worker_name: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv0 = f.read().split(b"\0", 1)[0].decode(errors="replace")
    except OSError:
        return False
    if os.path.basename(argv0) == worker_name:
        return True
    return status_kib(pid, "PPid") == os.getpid()  # our zombie: cmdline is empty


def leftovers(
    pids: set[int], worker_name: str, fds_before: dict[int, str], patience: float = 5.0
) -> tuple[list[int], list[str], dict[int, str]]:
    """Worker processes, library threads and new fds still there after shutdown (given
    ``patience`` seconds to go, and the garbage collector's help)."""
    until = time.monotonic() + patience
    while True:
        gc.collect()
        procs = sorted({p for p in pids if worker_alive(p, worker_name)} | children())
        threads = [t.name for t in threading.enumerate() if t.name.startswith("rustyobjectstore")]
        fds = {fd: path for fd, path in open_fds().items() if fds_before.get(fd) != path}
        if not (procs or threads or fds) or time.monotonic() > until:
            return procs, threads, fds
        time.sleep(0.1)


def staging_files(root: Path) -> list[str]:
    """Files in a file:// store that are not objects: object_store's ``key#N`` staging files."""
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "#" in p.name
    )


def files_in(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())
