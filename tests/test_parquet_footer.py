"""The Parquet footer reader names the very column chunks Arrow reads, in every kind of file pyarrow
writes, and gives up (None) quickly and quietly on anything else."""

from __future__ import annotations

import io
import itertools
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rustyobjectstore._ops.parquet import FOOTER_TAIL, ColumnChunk, column_chunks, metadata_length

ROWS = 5000
OPTIONS = [
    {},  # snappy, dictionary pages, statistics
    {"compression": "none"},
    {"write_statistics": False},
    {"use_dictionary": False},
    {"compression": "none", "use_dictionary": False, "write_statistics": False},
    {"compression": "zstd", "use_dictionary": ["s"]},
    {"write_page_index": True},  # the page index sits between the last chunk and the footer
]


def table() -> pa.Table:
    n = range(ROWS)
    return pa.table(
        {
            "i": pa.array(n, pa.int64()),
            "f": pa.array([x / 3 for x in n]),
            "s": pa.array([f"value {x % 7}" for x in n]).dictionary_encode(),
            "b": pa.array([x % 3 == 0 for x in n]),
            "l": pa.array([[x, x + 1] if x % 4 else None for x in n], pa.list_(pa.int32())),
            "st": pa.array([{"a": x, "b": str(x)} for x in n]),  # two leaf columns
            "t": pa.array(n, pa.timestamp("ms")),
        }
    )


def parquet(**options: object) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table(), sink, row_group_size=1000, **options)
    return sink.getvalue()


def footer(data: bytes) -> bytes:
    length = metadata_length(data[-FOOTER_TAIL:])
    assert length is not None
    return data[-FOOTER_TAIL - length : -FOOTER_TAIL]


def chunks_of(data: bytes) -> list[ColumnChunk]:
    chunks = column_chunks(footer(data), len(data))
    assert chunks is not None
    return chunks


SAMPLE = parquet()
SAMPLE_FOOTER = footer(SAMPLE)


@pytest.mark.parametrize("options", OPTIONS, ids=repr)
def test_the_chunks_are_those_in_arrows_metadata(options: dict[str, object]) -> None:
    data = parquet(**options)
    metadata = pq.ParquetFile(io.BytesIO(data)).metadata
    expected = []
    for r in range(metadata.num_row_groups):
        for c in range(metadata.num_columns):
            column = metadata.row_group(r).column(c)
            start = column.data_page_offset
            if column.has_dictionary_page and 0 < column.dictionary_page_offset < start:
                start = column.dictionary_page_offset
            expected.append(ColumnChunk(r, c, start, start + column.total_compressed_size))
    assert metadata.num_row_groups == 5 and metadata.num_columns == 8
    assert chunks_of(data) == expected
    dictionaries = [metadata.row_group(0).column(c).has_dictionary_page for c in range(8)]
    assert any(dictionaries) == (options.get("use_dictionary") is not False)


class RecordingFile(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[tuple[int, int]] = []

    def read(self, size: int | None = -1) -> bytes:
        start = self.tell()
        out = super().read(size)
        self.reads.append((start, start + len(out)))
        return out


@pytest.mark.parametrize("options", OPTIONS, ids=repr)
def test_the_chunks_are_the_bytes_arrow_reads(options: dict[str, object]) -> None:
    data = parquet(**options)
    chunks = chunks_of(data)
    spans = [(c.start, c.end) for c in chunks]
    footer_start = len(data) - FOOTER_TAIL - len(footer(data))
    in_file_order = sorted(spans)
    assert in_file_order[0][0] == 4 and in_file_order[-1][1] <= footer_start
    assert all(a[1] == b[0] for a, b in itertools.pairwise(in_file_order)), "disjoint, no gaps"
    if not options.get("write_page_index"):
        assert in_file_order[-1][1] == footer_start

    # Unbuffered, Arrow reads each chunk whole and on its own after its read of the file's end.
    recorded = RecordingFile(data)
    assert pq.ParquetFile(recorded, pre_buffer=False).read() == table()
    assert sorted(r for r in recorded.reads if r[1] != len(data)) == in_file_order


def test_the_metadata_length_is_arrows() -> None:
    assert metadata_length(SAMPLE[-FOOTER_TAIL:]) == len(SAMPLE_FOOTER)
    assert len(SAMPLE_FOOTER) == pq.ParquetFile(io.BytesIO(SAMPLE)).metadata.serialized_size
    assert metadata_length(SAMPLE) == len(SAMPLE_FOOTER)  # a longer tail: its last 8 bytes count
    assert metadata_length(b"hello world!") is None
    assert metadata_length(SAMPLE[-FOOTER_TAIL:-4] + b"PARE") is None  # an encrypted footer
    assert metadata_length(b"PAR1") is None
    assert metadata_length(b"") is None


def test_a_summary_files_chunks_in_other_files_are_not_read_ahead() -> None:
    metadata = pq.ParquetFile(io.BytesIO(SAMPLE)).metadata
    metadata.set_file_path("part-0.parquet")
    sink = io.BytesIO()
    metadata.write_metadata_file(sink)
    summary = sink.getvalue()
    assert column_chunks(footer(summary), 2**40) is None
    metadata.set_file_path("")  # an empty path is the file itself
    sink = io.BytesIO()
    metadata.write_metadata_file(sink)
    same = footer(sink.getvalue())
    assert column_chunks(same, len(SAMPLE) - len(SAMPLE_FOOTER) + len(same)) == chunks_of(SAMPLE)


# A little Thrift compact encoder for the footers pyarrow does not write.
TRUE, FALSE, BYTE, I16, I32, I64, DOUBLE, BINARY, LIST, SET, MAP, STRUCT, UUID = range(1, 14)


def varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes([*out, n])


def zigzag(n: int) -> bytes:
    return varint((n << 1) ^ (n >> 63))


def struct(*fields: tuple[int, int, bytes]) -> bytes:
    out, last = bytearray(), 0
    for field, kind, value in fields:
        short = 0 < field - last <= 15
        out += bytes([(field - last) << 4 | kind]) if short else bytes([kind]) + zigzag(field)
        out += value
        last = field
    return bytes(out) + b"\0"


def items(kind: int, values: list[bytes]) -> bytes:
    size = len(values)
    header = bytes([size << 4 | kind]) if size < 15 else bytes([0xF0 | kind]) + varint(size)
    return header + b"".join(values)


def chunk(
    data: int, size: int, dictionary: int | None = None, *extra: tuple[int, int, bytes]
) -> bytes:
    fields = [(7, I64, zigzag(size)), (9, I64, zigzag(data))]
    if dictionary is not None:
        fields.append((11, I64, zigzag(dictionary)))
    return struct((2, I64, zigzag(data)), (3, STRUCT, struct(*sorted([*fields, *extra]))))


def file_metadata(*row_groups: list[bytes]) -> bytes:
    groups = [struct((1, LIST, items(STRUCT, columns))) for columns in row_groups]
    return struct((1, I32, zigzag(2)), (4, LIST, items(STRUCT, groups)))


# One unknown field of every type and form, numbered to fall between and after the known ones.
EVERY_TYPE = [
    (20, TRUE, b""),
    (21, FALSE, b""),
    (22, BYTE, b"\xff"),
    (23, I16, zigzag(-300)),
    (24, I32, zigzag(2**31 - 1)),
    (25, I64, zigzag(-(2**63))),
    (26, DOUBLE, b"\x00" * 8),
    (27, BINARY, varint(3) + b"abc"),
    (28, LIST, items(I32, [zigzag(i) for i in range(20)])),  # the long size form
    (29, SET, items(BINARY, [varint(1) + b"x", varint(0)])),
    (30, LIST, items(TRUE, [b"\x01", b"\x02", b"\x01"])),  # bools in a list are a byte each
    (31, LIST, items(LIST, [items(STRUCT, [struct((1, TRUE, b""))]), items(DOUBLE, [])])),
    (32, MAP, varint(0)),  # the empty map: its size alone
    (33, MAP, varint(2) + bytes([BINARY << 4 | TRUE]) + b"\x01a\x01\x01b\x02"),
    (34, STRUCT, struct((1, STRUCT, struct((2, I64, zigzag(5)))), (300, LIST, items(I16, [])))),
    (35, UUID, bytes(range(16))),  # Thrift 0.19's; Parquet has none yet
    (1000, I64, zigzag(7)),  # a long-form header
]


def in_100_bytes(metadata: bytes) -> list[ColumnChunk] | None:
    """The chunks of a file whose chunks may lie in its bytes [4, 100)."""
    return column_chunks(metadata, 100 + FOOTER_TAIL + len(metadata))


IN_ANOTHER_FILE = struct(
    (1, BINARY, varint(5) + b"other"),
    (3, STRUCT, struct((7, I64, zigzag(1)), (9, I64, zigzag(4)))),
)


def test_a_hand_encoded_footer_reads() -> None:
    metadata = file_metadata([chunk(4, 10, 0), chunk(14, 6)], [chunk(30, 5, 20), chunk(35, 5, 40)])
    assert in_100_bytes(metadata) == [
        ColumnChunk(0, 0, 4, 14),  # a dictionary offset of 0 is no dictionary
        ColumnChunk(0, 1, 14, 20),
        ColumnChunk(1, 0, 20, 25),  # the dictionary comes first
        ColumnChunk(1, 1, 35, 40),  # a dictionary offset after the data is not the start
    ]
    assert in_100_bytes(file_metadata()) == []  # no row groups


@pytest.mark.parametrize("field", EVERY_TYPE, ids=lambda f: f"{f[0]}-{f[1]}")
def test_unknown_fields_of_every_type_are_skipped(field: tuple[int, int, bytes]) -> None:
    metadata = file_metadata([chunk(4, 10, None, field, (8, field[1], field[2]))])
    assert in_100_bytes(metadata) == [ColumnChunk(0, 0, 4, 14)]
    # pyarrow's footer ends in FileMetaData's stop byte: put the field before it.
    spliced = SAMPLE_FOOTER[:-1] + struct(field)[:-1] + b"\0"
    file_size = len(SAMPLE) - len(SAMPLE_FOOTER) + len(spliced)
    assert column_chunks(spliced, file_size) == chunks_of(SAMPLE)


def test_all_unknown_fields_at_once_are_skipped() -> None:
    metadata = file_metadata([chunk(4, 10, 0, *EVERY_TYPE), chunk(14, 6)])
    assert in_100_bytes(metadata) == [ColumnChunk(0, 0, 4, 14), ColumnChunk(0, 1, 14, 20)]


def test_fields_of_an_unexpected_type_are_skipped_as_thrift_does() -> None:
    wrong_dictionary = struct(
        (2, I64, zigzag(30)),
        (3, STRUCT, struct((7, I64, zigzag(5)), (9, I64, zigzag(30)), (11, I32, zigzag(20)))),
    )
    assert in_100_bytes(file_metadata([wrong_dictionary])) == [ColumnChunk(0, 0, 30, 35)]
    assert in_100_bytes(struct((4, I32, zigzag(1)))) is None  # so no row groups at all


@pytest.mark.parametrize(
    "metadata",
    [
        file_metadata([chunk(3, 10)]),  # inside the leading magic
        file_metadata([chunk(4, 97)]),  # into the footer
        file_metadata([chunk(4, -1)]),
        file_metadata([chunk(4, 10), struct((2, I64, zigzag(14)))]),  # no meta_data: encrypted
        file_metadata([IN_ANOTHER_FILE]),
        file_metadata([struct((3, STRUCT, struct((9, I64, zigzag(4)))))]),  # no size
        file_metadata([struct((3, STRUCT, struct((7, I64, zigzag(4)))))]),  # no data offset
        struct((1, I32, zigzag(2))),  # no row groups
        struct((4, LIST, items(I32, [zigzag(1)]))),  # row groups not structs
        struct((4, LIST, items(BINARY, [struct((1, LIST, items(STRUCT, [chunk(4, 1)])))]))),
        file_metadata([chunk(4, 10)])[:-1],  # no stop
        b"",
        struct((4, LIST, items(STRUCT, [])), (20, I64, b"\xff" * 10 + b"\x00")),  # 11-byte varint
        b"\x1e\x00",  # types 14 and 15 are none of Thrift's
        b"\x1f\x00",
    ],
)
def test_what_is_not_a_footer_we_understand_is_none(metadata: bytes) -> None:
    assert in_100_bytes(metadata) is None


def test_a_chunk_may_end_where_the_footer_starts() -> None:
    metadata = file_metadata([chunk(4, 96)])
    assert in_100_bytes(metadata) == [ColumnChunk(0, 0, 4, 100)]


@pytest.mark.parametrize(
    "metadata",
    [
        b"\x49\xfc" + varint(2**31),  # row groups: 2**31 of them
        b"\x19\xf1" + varint(2**31) + b"\x01" * 100,  # an unknown list of 2**31 bools
        b"\x19\x11" + varint(2**62),  # a set of i32 too
        b"\x18" + varint(2**40) + b"x",  # a binary of a terabyte
        b"\x1b" + varint(2**31) + b"\x55" + b"\x00" * 100,  # a map of 2**31 bytes to bytes
        b"\x1b" + varint(2**31) + b"\xcc" + b"\x00" * 100,  # and of structs to structs
        struct((4, LIST, items(STRUCT, [])), (20, LIST, items(TRUE, [b"\x01"] * 1_000_001))),
        b"\x1c" * 100_000,  # structs in structs, far deeper than any footer
        b"\x19\x19" * 100_000,  # lists in lists
    ],
    ids=["row-groups", "bools", "set", "binary", "map", "map-structs", "cap", "deep", "deep-lists"],
)
def test_huge_sizes_and_depths_are_none_at_once(metadata: bytes) -> None:
    began = time.perf_counter()
    assert column_chunks(metadata, 2**40) is None
    assert time.perf_counter() - began < 0.5


def check(chunks: list[ColumnChunk] | None, metadata: bytes, file_size: int) -> None:
    if chunks is not None:
        limit = file_size - FOOTER_TAIL - len(metadata)
        assert all(4 <= c.start <= c.end <= limit for c in chunks)


fuzz = settings(max_examples=300, deadline=2000, database=None)


@fuzz
@given(st.binary(max_size=4096), st.integers(-10, 2**40))
def test_random_bytes_never_raise(metadata: bytes, file_size: int) -> None:
    check(column_chunks(metadata, file_size), metadata, file_size)


@fuzz
@given(st.integers(0, len(SAMPLE_FOOTER) - 1))
def test_a_truncated_footer_is_none(length: int) -> None:
    # The footer ends in FileMetaData's stop, so no shorter prefix holds a whole FileMetaData.
    assert column_chunks(SAMPLE_FOOTER[:length], len(SAMPLE)) is None


@fuzz
@given(st.lists(st.integers(0, len(SAMPLE_FOOTER) * 8 - 1), min_size=1, max_size=8))
def test_a_footer_with_flipped_bits_never_raises(bits: list[int]) -> None:
    metadata = bytearray(SAMPLE_FOOTER)
    for bit in bits:
        metadata[bit // 8] ^= 1 << bit % 8
    check(column_chunks(bytes(metadata), len(SAMPLE)), bytes(metadata), len(SAMPLE))


@fuzz
@given(st.integers(0, len(SAMPLE_FOOTER)), st.integers(0, 64), st.binary(max_size=64))
def test_a_footer_with_bytes_replaced_never_raises(at: int, cut: int, insert: bytes) -> None:
    metadata = SAMPLE_FOOTER[:at] + insert + SAMPLE_FOOTER[at + cut :]
    file_size = len(SAMPLE) - len(SAMPLE_FOOTER) + len(metadata)
    check(column_chunks(metadata, file_size), metadata, file_size)
