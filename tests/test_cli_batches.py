"""The command line's batches of small downloads and uploads: what the jobs ask for in one turn
of the event loop goes as one request, at most ``most`` a request; each job gets its own file's
result; a job cancelled before its batch leaves is left out of it. The requests themselves are
recorded here (the real ones are tested on every store kind in test_big_objects and
test_cli_trees)."""

from __future__ import annotations

import asyncio

import pytest

import rustyobjectstore as ros
from rustyobjectstore._cli import batches
from rustyobjectstore._config import StoreConfig

CONF = ros.Config("memory://batches")


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[list[tuple[str, str]]]:
    requests: list[list[tuple[str, str]]] = []

    async def recorded(
        files: list[tuple[str, str]], conf: StoreConfig, *, fsync: bool
    ) -> list[int | Exception]:
        requests.append(list(files))
        await asyncio.sleep(0)
        return [FileNotFoundError(2, "gone", path) if "bad" in key else len(key)
                for key, path in files]  # fmt: skip

    monkeypatch.setattr(batches, "get_objects_to_files_async", recorded)
    return requests


def test_one_turn_of_the_loop_is_one_request_of_at_most_most(
    sent: list[list[tuple[str, str]]],
) -> None:
    async def main() -> list[int | BaseException]:
        gather = batches.download_batches(fsync=False, most=4)
        keys = [f"k{i}" for i in range(6)] + ["bad"]
        jobs = [gather.add((key, f"/tmp/{key}"), CONF) for key in keys]
        return await asyncio.gather(*jobs, return_exceptions=True)

    results = asyncio.run(main())
    assert [len(request) for request in sent] == [4, 3]
    assert results[:6] == [2] * 6
    assert isinstance(results[6], FileNotFoundError) and results[6].filename == "/tmp/bad"


def test_a_job_cancelled_before_its_batch_leaves_is_left_out(
    sent: list[list[tuple[str, str]]],
) -> None:
    async def main() -> list[int | BaseException]:
        gather = batches.download_batches(fsync=False)
        tasks = [asyncio.ensure_future(gather.add((k, f"/tmp/{k}"), CONF)) for k in "abc"]
        await asyncio.sleep(0)  # each job is waiting; the batch has not left
        tasks[1].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(main())
    assert sent == [[("a", "/tmp/a"), ("c", "/tmp/c")]]
    assert results[0] == 1 and results[2] == 1
    assert isinstance(results[1], asyncio.CancelledError)


def test_uploads_go_in_batches_with_their_mode_and_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    requests: list[tuple[list[batches.Upload], str, int]] = []

    async def recorded(
        files: list[batches.Upload], conf: StoreConfig, *, mode: str, limit: int
    ) -> list[int | Exception]:
        requests.append((list(files), mode, limit))
        await asyncio.sleep(0)
        return [ros.AlreadyExistsError("there") if key == "taken" else 1 for key, _, _ in files]

    monkeypatch.setattr(batches, "put_objects_from_files_async", recorded)

    async def main() -> list[int | BaseException]:
        gather = batches.upload_batches("create", 1024, most=2)
        items = [("a", "/tmp/a", {"Content-Type": "text/csv"}), ("taken", "/tmp/t", None),
                 ("c", "/tmp/c", None)]  # fmt: skip
        return await asyncio.gather(*(gather.add(item, CONF) for item in items),
                                    return_exceptions=True)  # fmt: skip

    results = asyncio.run(main())
    assert [(len(files), mode, limit) for files, mode, limit in requests] == [
        (2, "create", 1024), (1, "create", 1024)
    ]  # fmt: skip
    assert requests[0][0][0] == ("a", "/tmp/a", {"Content-Type": "text/csv"})
    assert results[0] == 1 and isinstance(results[1], ros.AlreadyExistsError) and results[2] == 1
