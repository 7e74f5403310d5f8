"""Property tests: arbitrary bytes under arbitrary valid keys come back exactly, on every store."""

from __future__ import annotations

import asyncio
import re
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rustyobjectstore as ros

AnyConf = ros.Config | ros.AWSConfig | ros.AzureConfig

# A portable segment: any run of printable characters but "/", never "." or "..", and no "\\"
# (Azure turns it into "/").
_segment = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="/\\"),
    min_size=1,
    max_size=20,
).filter(lambda s: s not in (".", "..") and s == s.strip())
# What a local store refuses (protocol.md section 5): a segment shaped like a drive letter ("C:"),
# and a key ending in one ("abC:").
_NOT_LOCAL = re.compile(r"(^|/)[A-Za-z][:|]/|[A-Za-z][:|]$")
keys = (
    st.lists(_segment, min_size=1, max_size=4)
    .map("/".join)
    .filter(lambda k: not _NOT_LOCAL.search(k))
)

_settings = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@_settings
@given(key=keys, data=st.binary(max_size=4096))
def test_small_objects_round_trip(conf: AnyConf, key: str, data: bytes) -> None:
    # A fresh folder per example: on a file store, "a" and "a/b" cannot both be objects.
    key = f"{uuid.uuid4().hex}/{key}"
    assert ros.put_object(key, data, conf) == len(data)
    assert ros.get_object(key, conf) == data
    assert ros.head_object(key, conf).size == len(data)
    assert [m.path for m in ros.list_objects(key, conf)] == [key]


@_settings
@given(
    size=st.integers(min_value=0, max_value=3 * 1024 * 1024),
    seed=st.binary(min_size=16, max_size=16),
)
def test_sizes_up_to_a_few_mib_round_trip(conf: AnyConf, size: int, seed: bytes) -> None:
    data = (seed * (size // 16 + 1))[:size]
    ros.put_object("sized", data, conf)
    buffer = bytearray(size + 3)
    assert ros.get_object_into("sized", buffer, conf) == size
    assert bytes(buffer[:size]) == data
    assert asyncio.run(ros.get_object_async("sized", conf)) == data
