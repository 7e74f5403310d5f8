"""Many transfers at once: jobs come from a listing as it arrives and run on the event loop,
``workers`` of them at a time, each through the library's engine (big files in parallel parts,
in bounded memory). A job that fails is listed once and the others go on; Ctrl-C cancels what is
in flight, and every download that had not finished leaves no file behind."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TextIO

from rustyobjectstore._cli.locations import CLIError
from rustyobjectstore._cli.progress import Progress
from rustyobjectstore._errors import AlreadyExistsError, ObjectStoreError

#: A job's work: given a callback for bytes moved (cumulative, as the library reports them), the
#: bytes it moved.
Work = Callable[[Callable[[int, int | None], None]], Awaitable[int]]


class Skipped(Exception):
    """A job that had nothing to do (``--no-clobber`` and the destination exists)."""


@dataclass(frozen=True)
class Job:
    line: str  # what it does, as printed: "cp SRC DST"
    size: int
    work: Work


@dataclass
class Report:
    done: int = 0
    skipped: int = 0
    moved: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def summary(self, verb: str) -> str:
        seconds = time.monotonic() - self.started
        text = f"{verb} {self.done} object(s), {human_size(self.moved)} in {seconds:.1f} s"
        if seconds > 0 and self.moved:
            text += f" ({human_size(int(self.moved / seconds))}/s)"
        if self.skipped:
            text += f"; {self.skipped} skipped"
        if self.failures:
            text += f"; {len(self.failures)} failed"
        return text


def human_size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def failure_message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


class InFlight:
    """At most ``limit`` tasks at once: ``start`` waits for room. Left normally, the block waits
    for every task; left by an exception (Ctrl-C), it cancels them and waits until they have
    stopped (a download's temporary file is gone by then)."""

    def __init__(self, limit: int) -> None:
        self._gate = asyncio.Semaphore(limit)
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, work: Callable[[], Awaitable[None]]) -> None:
        await self._gate.acquire()
        task = asyncio.create_task(self._run(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        finally:
            self._gate.release()

    async def __aenter__(self) -> InFlight:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            while self._tasks:
                await asyncio.gather(*self._tasks)
            return
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def run_jobs(
    jobs: AsyncIterator[Job], *, workers: int, progress: Progress, out: TextIO | None,
    dryrun: bool = False,
) -> Report:  # fmt: skip
    """Runs ``jobs`` as they come, ``workers`` at a time; prints each job's line on ``out`` once it
    is done (``--dryrun``: instead of doing it). Errors of a job are its failure, not the run's;
    a cancellation (Ctrl-C) cancels every job in flight, and is raised once they have stopped."""
    report = Report()

    async def one(job: Job) -> None:
        last = 0

        def moved(done: int, _total: int | None) -> None:
            nonlocal last
            progress.moved(done - last)
            last = done

        try:
            size = await job.work(moved)  # not `+= await`: that reads the total before waiting
            report.moved += size
            report.done += 1
            if out is not None:
                progress.write(job.line, out)
        except (Skipped, AlreadyExistsError):
            report.skipped += 1  # --no-clobber (AlreadyExistsError: the store itself found it)
        except (ObjectStoreError, OSError, CLIError) as exc:
            report.failures.append((job.line, failure_message(exc)))
        finally:
            progress.finished()

    async with InFlight(workers) as flight:
        async for job in jobs:
            progress.planned(job.size)
            if dryrun:
                if out is not None:
                    progress.write(f"(dryrun) {job.line}", out)
                report.done += 1
                continue
            await flight.start(functools.partial(one, job))
    return report
