"""Where a Parquet file's column chunks lie, read from its footer alone, so a file reader can fetch
them ahead of a columnar reader's reads. Standard library only: a minimal Thrift compact decoder
that reads the few fields it needs, skips the rest and gives up on anything it does not understand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

FOOTER_TAIL = 8  # the 4-byte little-endian metadata length then b"PAR1"

# Thrift compact protocol types. A bool field's value is its type; in a list or map it is a byte.
_TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY = range(1, 9)
_LIST, _SET, _MAP, _STRUCT, _UUID = range(9, 14)
_WIDTH = {_TRUE: 1, _FALSE: 1, _BYTE: 1, _DOUBLE: 8, _UUID: 16}  # fixed sizes in a collection
_MAX_DEPTH = 64
# Arrow's default container size limit: a footer with longer lists is one Arrow would not read.
_MAX_ELEMENTS = 1_000_000
_T = TypeVar("_T")


@dataclass(frozen=True)
class ColumnChunk:
    row_group: int  # index of the row group
    column: int  # index of the column chunk within its row group (leaf column order)
    start: int  # first byte of the chunk in the file
    end: int  # one past its last byte


class _Unreadable(Exception):
    """The bytes are not a FileMetaData this module understands."""


class _Decoder:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.depth = 0

    def take(self, n: int) -> None:
        if self.pos + n > len(self.data):
            raise _Unreadable
        self.pos += n

    def byte(self) -> int:
        try:
            b = self.data[self.pos]
        except IndexError:
            raise _Unreadable from None
        self.pos += 1
        return b

    def varint(self) -> int:
        value = shift = 0
        while (b := self.byte()) & 0x80:
            value |= (b & 0x7F) << shift
            shift += 7
            if shift >= 70:  # longer than any 64-bit value
                raise _Unreadable
        return value | b << shift

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def size(self, n: int) -> int:
        # Every element takes at least a byte, so a size beyond the bytes left is garbage: refused
        # at once, before reading any element.
        if n > min(_MAX_ELEMENTS, len(self.data) - self.pos):
            raise _Unreadable
        return n

    def nest(self, step: int) -> None:
        self.depth += step
        if self.depth > _MAX_DEPTH:
            raise _Unreadable

    def fields(self) -> Iterator[tuple[int, int]]:
        """Each field's (id, type) up to the struct's stop; the caller reads or skips each value."""
        self.nest(1)
        last = 0
        while kind := (header := self.byte()) & 0x0F:
            last = last + (header >> 4) if header >> 4 else self.zigzag()
            yield last, kind
        self.nest(-1)

    def list_header(self) -> tuple[int, int]:
        header = self.byte()
        size = header >> 4 if header >> 4 != 15 else self.varint()
        return self.size(size), header & 0x0F

    def structs(self) -> range:
        size, kind = self.list_header()
        if size and kind != _STRUCT:
            raise _Unreadable
        return range(size)

    def skip(self, kind: int, in_collection: bool = False) -> None:
        if kind in (_I16, _I32, _I64):
            self.varint()
        elif kind == _BINARY:
            self.take(self.varint())
        elif kind == _STRUCT:
            for _, k in self.fields():
                self.skip(k)
        elif kind in _WIDTH:
            if in_collection or kind not in (_TRUE, _FALSE):
                self.take(_WIDTH[kind])
        elif kind in (_LIST, _SET):
            size, elem = self.list_header()
            if elem in _WIDTH:
                self.take(size * _WIDTH[elem])
            else:
                self.nest(1)
                for _ in range(size):
                    self.skip(elem, in_collection=True)
                self.nest(-1)
        elif kind == _MAP:
            size = self.size(self.varint())
            types = self.byte() if size else 0  # an empty map is its size alone
            self.nest(1)
            for _ in range(size):
                self.skip(types >> 4, in_collection=True)
                self.skip(types & 0x0F, in_collection=True)
            self.nest(-1)
        else:
            raise _Unreadable


def metadata_length(tail: bytes) -> int | None:
    """Given the last 8 bytes of a file: the length of the thrift FileMetaData before them when the
    file is Parquet (ends in b"PAR1"; not b"PARE", encrypted footers are not read), else None."""
    if len(tail) < FOOTER_TAIL or tail[-4:] != b"PAR1":
        return None
    return int.from_bytes(tail[-8:-4], "little")


def column_chunks(metadata: bytes, file_size: int) -> list[ColumnChunk] | None:
    """The column chunks named by a thrift-compact-encoded FileMetaData (the bytes just before the
    last 8 of the file), in row-group then column order; None when the bytes do not decode as one,
    or a chunk lies outside [4, file_size - 8 - len(metadata)) (not a Parquet file we understand: the
    caller then simply does not read ahead). Never raises on any input."""
    try:
        row_groups = _structs_in(_Decoder(metadata), 4, _row_group)  # FileMetaData.row_groups
    except _Unreadable:
        return None
    limit = file_size - FOOTER_TAIL - len(metadata)
    chunks = [
        ColumnChunk(r, c, start, end)
        for r, columns in enumerate(row_groups)
        for c, (start, end) in enumerate(columns)
    ]
    if not all(4 <= chunk.start <= chunk.end <= limit for chunk in chunks):
        return None
    return chunks


def _structs_in(d: _Decoder, list_field: int, read: Callable[[_Decoder], _T]) -> list[_T]:
    """Each struct in the list field of the struct at hand (required), as ``read`` reads it."""
    found = None
    for field, kind in d.fields():
        # Thrift's own readers skip a field whose type is not the one they expect, as here.
        if field == list_field and kind == _LIST:
            found = [read(d) for _ in d.structs()]
        else:
            d.skip(kind)
    if found is None:
        raise _Unreadable
    return found


def _row_group(d: _Decoder) -> list[tuple[int, int]]:
    return _structs_in(d, 1, _column_chunk)  # RowGroup.columns


def _column_chunk(d: _Decoder) -> tuple[int, int]:
    where = None
    for field, kind in d.fields():
        if field == 1 and kind == _BINARY:
            if d.varint():  # the chunk is in another file (a summary's); an empty path is this one
                raise _Unreadable
        elif field == 3 and kind == _STRUCT:
            where = _column_range(d)
        else:
            d.skip(kind)
    if where is None:  # encrypted columns keep their metadata elsewhere
        raise _Unreadable
    return where


def _column_range(d: _Decoder) -> tuple[int, int]:
    found: dict[int, int] = {}
    for field, kind in d.fields():
        if field in (7, 9, 11) and kind == _I64:
            found[field] = d.zigzag()
        else:
            d.skip(kind)
    if 7 not in found or 9 not in found:
        raise _Unreadable
    start = found[9]
    # As Arrow's ComputeColumnChunkRange: a dictionary offset counts only when it comes before the
    # data, as some writers put 0 there when the chunk has no dictionary.
    if 0 < found.get(11, 0) < start:
        start = found[11]
    return start, start + found[7]
