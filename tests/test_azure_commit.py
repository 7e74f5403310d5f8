"""An Azure multipart commit (Put Block List) whose answer is lost: object_store sends it again,
Azure (here Azurite) refuses the repeat with ``InvalidBlockList`` because the blocks are already
committed, and the worker, finding its own upload id on the object, reports the write done."""

from __future__ import annotations

import os

from conftest import azure_config
from emulators import RunningServer
from lossyproxy import LossyProxy

import rustyobjectstore as ros


def is_commit(method: str, path: str) -> bool:
    return method == "PUT" and "comp=blocklist" in path


def test_a_commit_whose_answer_was_lost_is_not_a_failure(
    azurite_server: RunningServer, azure_container: str
) -> None:
    origin = azurite_server.endpoint.rsplit("/", 1)[0]
    data = os.urandom(24 << 20)  # past the stream's 10 MiB buffer: a multipart upload
    with LossyProxy(origin, is_commit) as proxy:
        conf = azure_config(azurite_server, azure_container, host=proxy.endpoint)
        with ros.put_object_stream("lost-commit.bin", conf) as writer:
            for i in range(0, len(data), 1 << 20):
                writer.write(data[i : i + (1 << 20)])
        commits = [status for method, path, status in proxy.answered if is_commit(method, path)]
    assert proxy.lost == 1
    assert commits == [201, 400], "the commit went through, then its repeat was refused"
    direct = azure_config(azurite_server, azure_container)
    assert ros.get_object("lost-commit.bin", direct) == data
    meta = ros.head_object("lost-commit.bin", direct)
    assert not any("upload_id" in name for name in meta.attributes or {})
