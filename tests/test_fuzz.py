"""The Python side's decoder against arbitrary bytes and mutated golden vectors (the worker's is
fuzzed in ``worker/src/fuzz.rs``): every input gives whole messages (maps), waits for more bytes, or
raises ``FrameError``; nothing else is raised, nothing hangs, and no frame longer than the limit is
ever buffered for (the length is refused before its bytes are awaited)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from rustyobjectstore._worker.codec import MAX_FRAME, FrameDecoder, FrameError

VECTORS = Path(__file__).parent / "vectors"
BODIES = [
    bytes.fromhex(v["msgpack_hex"])
    for name in ("requests.json", "responses.json")
    for v in json.loads((VECTORS / name).read_text())
]


def frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def feed_all(chunks: list[bytes]) -> None:
    decoder = FrameDecoder()
    try:
        for chunk in chunks:
            for message in decoder.feed(chunk):
                assert isinstance(message, dict)
            # An incomplete frame is buffered only up to what its header allows.
            assert decoder.pending < 4 + MAX_FRAME
    except FrameError:
        pass


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=6))
def test_arbitrary_bytes(chunks: list[bytes]) -> None:
    feed_all(chunks)


@st.composite
def mutated_frames(draw: st.DrawFn) -> list[bytes]:
    stream = bytearray()
    for body in draw(st.lists(st.sampled_from(BODIES), min_size=1, max_size=4)):
        mutant = bytearray(body)
        for _ in range(draw(st.integers(0, 4))):
            at = draw(st.integers(0, len(mutant)))
            kind = draw(st.sampled_from(["flip", "cut", "insert"]))
            if kind == "flip" and at < len(mutant):
                mutant[at] ^= 1 << draw(st.integers(0, 7))
            elif kind == "cut":
                del mutant[at:]
            else:
                mutant[at:at] = draw(st.binary(min_size=1, max_size=8))
        stream += frame(bytes(mutant)) if mutant else b"\0\0\0\0"
    # Fed in pieces cut anywhere, as a pipe delivers them.
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=4)))
    return [bytes(stream[a:b]) for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]


@settings(max_examples=1000, deadline=None)
@given(mutated_frames())
def test_mutated_golden_frames(chunks: list[bytes]) -> None:
    feed_all(chunks)


def test_a_length_past_the_limit_is_refused_before_its_bytes() -> None:
    decoder = FrameDecoder()
    try:
        decoder.feed(struct.pack(">I", MAX_FRAME + 1) + b"\x80")
    except FrameError as error:
        assert "outside" in str(error)
    else:
        raise AssertionError("an over-limit length was accepted")
    assert decoder.pending <= 5
