"""A Parquet file's column chunks, as the reader's lookahead learns them from its footer, for
tests that name the spans a reader asks for."""

from __future__ import annotations

from rustyobjectstore._ops.parquet import ColumnChunk, column_chunks, metadata_length


def layout_of(raw: bytes) -> list[ColumnChunk]:
    """The chunks of the whole file ``raw``, in row-group then column order."""
    length = metadata_length(raw[-8:])
    assert length is not None
    chunks = column_chunks(raw[-8 - length : -8], len(raw))
    assert chunks is not None
    return chunks


def column_spans(raw: bytes, column: int) -> list[tuple[int, int]]:
    """Where the chunks of ``column`` lie, row group by row group."""
    return [(c.start, c.end) for c in layout_of(raw) if c.column == column]


def row_group_spans(raw: bytes) -> list[tuple[int, int]]:
    """Each row group's bytes: what pyarrow's pre-buffer pass reads of it at once."""
    chunks = layout_of(raw)
    groups = sorted({c.row_group for c in chunks})
    return [
        (min(c.start for c in chunks if c.row_group == r),
         max(c.end for c in chunks if c.row_group == r))
        for r in groups
    ]  # fmt: skip
