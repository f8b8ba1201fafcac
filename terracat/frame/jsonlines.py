"""Arrow's JSON reader over many JSON objects at once, one a line, and its guards.

The file lists, the footprints and a protocol's properties are all read this way: joined into
one buffer and parsed in C++, never one Python object per value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.json

__all__ = [
    "all_objects",
    "object_lines",
    "one_chunk",
    "read_json_lines",
    "read_objects",
    "text_array",
    "text_views",
    "texts_joined",
]


def one_chunk(column: pa.ChunkedArray) -> pa.Array:
    """The column as one array, copied only when it has several chunks."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def all_objects(texts: Sequence[bytes]) -> bool:
    """Whether each text is a JSON object, the only texts handed to Arrow's JSON reader: one
    that is a bare ``null`` crashes it (pyarrow 26)."""
    return all(memoryview(text)[:1] == b"{" for text in texts)


def object_lines(texts: Sequence[bytes]) -> bytes | None:
    """The texts as lines for :func:`read_json_lines`, or None unless each is a JSON object."""
    if not texts or not all_objects(texts):
        return None
    return b"\n".join(texts)


def read_json_lines(blob: bytes, schema: pa.Schema, *, pretty: bool = False) -> pa.Table:
    """Arrow's JSON reader over one object a line, typed by ``schema`` (other fields ignored).

    ``pretty`` reads objects that span lines; Arrow raises ``ArrowInvalid`` on anything that
    does not fit the schema.
    """
    return pyarrow.json.read_json(
        pa.BufferReader(blob),
        read_options=pyarrow.json.ReadOptions(use_threads=False, block_size=len(blob) + 1),
        parse_options=pyarrow.json.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="ignore", newlines_in_values=pretty
        ),
    )


def text_array(buffer: pa.Buffer, offsets: Any) -> pa.Array:
    """JSON texts held back to back in ``buffer`` as one string array over it, without a copy:
    ``offsets`` (int64, one more than the texts) cut it; large_string past 2 GiB."""
    count = len(offsets) - 1
    if offsets[-1] < 2**31:
        kind, offsets = pa.string(), offsets.astype("int32")
    else:
        kind = pa.large_string()
    return pa.Array.from_buffers(kind, count, [None, pa.py_buffer(offsets), buffer])


_VIEW = np.dtype([("length", "<i4"), ("prefix", "S4"), ("buffer", "<i4"), ("offset", "<i4")])
"""One value of an Arrow ``string_view`` array longer than 12 bytes: its length, its first
four bytes, the data buffer it lies in and where in it."""

_INLINE = 12
"""Bytes a ``string_view`` value holds in its view itself, in place of prefix, buffer and offset."""


def text_views(texts: Sequence[bytes]) -> pa.Array:
    """Texts (anything with the buffer protocol: bytes, ``msgspec.Raw`` slices of page bodies)
    as an Arrow ``string_view`` array over them, without a copy of their bytes.

    Why: joining ``msgspec.Raw`` texts with ``bytes.join`` copies them holding the interpreter
    lock (it lets go only for bytes objects); the views cost half a microsecond a text, and
    :func:`texts_joined` copies them into one buffer in Arrow, without the lock.
    """
    count = len(texts)
    views = np.zeros(count, _VIEW)
    views["length"] = np.fromiter(map(len, texts), np.int32, count)
    short = np.flatnonzero(views["length"] <= _INLINE)
    if len(short) == 0:
        views["prefix"] = _prefixes(texts)
        views["buffer"] = np.arange(count, dtype=np.int32)
        data = [pa.py_buffer(text) for text in texts]
    else:  # rare (an empty object): a text this short lies in its view
        long = np.flatnonzero(views["length"] > _INLINE)
        views["prefix"][long] = _prefixes([texts[i] for i in long])
        views["buffer"][long] = np.arange(len(long), dtype=np.int32)
        data = [pa.py_buffer(texts[i]) for i in long]
        inline = views.view(np.uint8).reshape(count, 16)
        for i in short:
            inline[i, 4 : 4 + views["length"][i]] = np.frombuffer(texts[i], np.uint8)
    return pa.Array.from_buffers(pa.string_view(), count, [None, pa.py_buffer(views), *data])


def _prefixes(texts: Sequence[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join([memoryview(text)[:4] for text in texts]), "S4")


def texts_joined(views: pa.Array) -> pa.Array:
    """:func:`text_views` as a plain string array, its texts back to back in one buffer (the
    form :func:`read_objects` reads, and a frame's text column takes); large_string past 2 GiB.
    Copied by Arrow, which lets go of the interpreter lock."""
    lengths = np.frombuffer(views.buffers()[1], _VIEW)["length"][views.offset :][: len(views)]
    total = int(lengths.sum(dtype=np.int64))
    return views.cast(pa.string() if total < 2**31 else pa.large_string())


def read_objects(
    buffer: pa.Buffer,
    schema: pa.Schema,
    count: int,
    *,
    unexpected: str,
    block_size: int,
    threads: bool = True,
) -> pa.Table | None:
    """Arrow's read of ``count`` JSON objects held back to back in ``buffer`` (its reader needs
    no separator between them), blocks of ``block_size`` bytes parsed on both cores (``threads``)
    or one after another in the calling thread; fields the
    schema lacks ``"ignore"``-d or ``"infer"``-red. None when Arrow refuses them or reads
    another number of rows: the caller's general path reads them then."""
    try:
        table = pyarrow.json.read_json(
            pa.BufferReader(buffer),
            read_options=pyarrow.json.ReadOptions(use_threads=threads, block_size=block_size),
            parse_options=pyarrow.json.ParseOptions(
                explicit_schema=schema,
                unexpected_field_behavior=unexpected,
                newlines_in_values=True,
            ),
        )
    except pa.ArrowException:
        return None
    return table if table.num_rows == count else None
