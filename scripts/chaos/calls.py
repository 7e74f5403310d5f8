"""Running one call (sync, or async under the per-call timeout) and sorting out its outcome: ok and
checked, or an error that is allowed (a crash, an absence the ledger allows, a race on a shared
key, the server down) or not."""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import rustyobjectstore as ros
from chaos.checks import Checker
from chaos.ledger import Ledger, Write
from chaos.plan import WRITES, Plan
from chaos.stats import Stats, Tracker


class Calls:
    def __init__(
        self,
        ledger: Ledger,
        checker: Checker,
        tracker: Tracker,
        in_outage: Callable[[float, float], bool],
        call_timeout: float,
    ) -> None:
        self.ledger = ledger
        self.checker = checker
        self.stats: Stats = checker.stats
        self.tracker = tracker
        self.in_outage = in_outage
        self.call_timeout = call_timeout

    def begin(self, plan: Plan) -> tuple[int, Write | None]:
        token = self.tracker.begin(plan.op, plan.key)
        write = self.ledger.begin(plan.key, *plan.new) if plan.new else None
        return token, write

    def settle(
        self,
        plan: Plan,
        token: int,
        write: Write | None,
        result: Any,
        error: BaseException | None,
        rs: float,
        re: float,
        hung: bool = False,
    ) -> None:
        self.tracker.end(token)
        try:
            if hung:
                self.tracker.mark_hung(token, plan.op, plan.key)
                self.stats.outcome(plan.op, "hung", rs)
                return  # the write's end stays unknown: it may still land
            if write is not None:
                acked = error is None or (plan.op == "delete_object" and _not_found(error))
                self.ledger.finish(write, acked)
            if error is None:
                self.stats.outcome(plan.op, "ok", rs)
                plan.check(result, rs, re)
                return
            self.stats.error(plan.op, error)
            self.classify(plan, error, rs, re)
        finally:
            for path in plan.files:
                path.unlink(missing_ok=True)

    def classify(self, plan: Plan, error: BaseException, rs: float, re: float) -> None:
        if isinstance(error, ros.WorkerCrashedError):
            # Allowed: a write is not retried (unless --write-retries), a read only so many times.
            self.stats.outcome(plan.op, "worker crashed", rs)
            return
        if _not_found(error) and plan.op != "list_objects":
            self.stats.outcome(plan.op, "not found", rs)
            if plan.op in WRITES:
                return  # a delete of a key already gone
            self.checker.check_absent(plan.op, plan.key, rs, re)
            return
        unreachable = (
            ros.ObjectStoreConnectionError, ros.ObjectStoreTimeoutError, ros.HTTPStatusError,
            ros.EarlyEOFError,
        )  # fmt: skip
        if isinstance(error, unreachable) and self.in_outage(rs, re):
            self.stats.outcome(plan.op, "server down", rs)  # a write then may or may not land
            return
        raced = (ros.BufferTooSmallError, ros.PreconditionFailedError)
        if plan.shared and isinstance(error, raced):
            self.stats.outcome(plan.op, "raced", rs)  # a concurrent write changed the object
            return
        self.stats.outcome(plan.op, "unexpected", rs)
        self.stats.not_allowed(plan.op, error)
        frames = traceback.extract_tb(error.__traceback__)[-3:]
        where = " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames))
        self.stats.problem(
            "unexpected errors",
            f"{plan.op} {plan.key}: {type(error).__name__}: {error} (at {where})",
        )

    def run_sync(self, plan: Plan) -> None:
        token, write = self.begin(plan)
        rs = time.monotonic()
        try:
            result = plan.call()
        except Exception as error:
            self.settle(plan, token, write, None, error, rs, time.monotonic())
        else:
            self.settle(plan, token, write, result, None, rs, time.monotonic())

    async def run_async(self, plan: Plan) -> None:
        token, write = self.begin(plan)
        rs = time.monotonic()
        try:
            result = await asyncio.wait_for(plan.acall(), self.call_timeout)
        except Exception as error:
            hung = isinstance(error, TimeoutError) and not isinstance(error, ros.ObjectStoreError)
            self.settle(plan, token, write, None, error, rs, time.monotonic(), hung=hung)
        else:
            self.settle(plan, token, write, result, None, rs, time.monotonic())


def _not_found(error: BaseException) -> bool:
    return isinstance(error, ros.NotFoundError)
