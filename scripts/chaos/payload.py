"""Payloads that carry their own checksum: a header with a magic, the write's version number and
the sha256 of key, version and body."""

from __future__ import annotations

import hashlib
import random
import struct

KiB = 1024
MiB = 1024 * KiB

MAGIC = b"ROSCHAOS"
HEADER = struct.Struct(">8sQ32s")  # magic, version, sha256(key, version, body)
STAMP = struct.Struct(">QQ")  # every 4 KiB of a body: its offset and version (a moved part shows)
_BLOCK = random.Random(0x5EED).randbytes(MiB)

# Body sizes of small objects: (low, high, weight).
SMALL_SIZES = (
    (0, 0, 3),
    (1, 200, 15),
    (1 * KiB, 8 * KiB, 35),
    (16 * KiB, 96 * KiB, 30),
    (200 * KiB, 1 * MiB, 12),
    (1 * MiB, 3 * MiB, 5),
)
BIG_SIZE = (10 * MiB + 1, 20 * MiB)  # above the default 10 MiB put / 8 MiB get thresholds


def make_payload(key: str, version: int, body_size: int) -> bytearray:
    """Header + a body unique to (key, version); deterministic, so a range can be regenerated."""
    salt = hashlib.blake2b(f"{key}\0{version}".encode(), digest_size=8).digest()
    offset = int.from_bytes(salt, "big") % len(_BLOCK)
    rotated = _BLOCK[offset:] + _BLOCK[:offset]
    out = bytearray(HEADER.size + body_size)
    body = memoryview(out)[HEADER.size :]
    for at in range(0, body_size, len(rotated)):
        n = min(len(rotated), body_size - at)
        body[at : at + n] = rotated[:n]
    for at in range(0, body_size - STAMP.size + 1, 4096):
        STAMP.pack_into(body, at, at, version)
    HEADER.pack_into(out, 0, MAGIC, version, _digest(key, version, body))
    body.release()
    return out


def _digest(key: str, version: int, body: memoryview | bytes) -> bytes:
    h = hashlib.sha256(key.encode())
    h.update(version.to_bytes(8, "big"))
    h.update(body)
    return h.digest()


def parse_payload(key: str, data: bytes | bytearray | memoryview) -> int | None:
    """The version ``data`` says it is, if its checksum holds; None if it is corrupt."""
    view = memoryview(data)
    if len(view) < HEADER.size:
        return None
    magic, version, digest = HEADER.unpack_from(view, 0)
    if magic != MAGIC or _digest(key, version, view[HEADER.size :]) != digest:
        return None
    return int(version)


def pick_small(rng: random.Random) -> int:
    low, high, _ = rng.choices(SMALL_SIZES, weights=[w for _, _, w in SMALL_SIZES])[0]
    return rng.randint(low, high)
