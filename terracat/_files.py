"""Products' file lists as Arrow ``list<struct>`` columns, and the thread that parses JSON.

A product's ``properties.links`` hold most of its JSON (8 to 20 file entries of five fields).
A search reads them along with the rest of the properties (:mod:`terracat._arrow_properties`);
here are their Arrow type, the background thread both use, and :class:`FileLists`, which parses
the raw ``links`` of the products the general path flattens: newline-delimited, by Arrow's
JSON reader in the background thread (the C++ parser releases the GIL), and when Arrow's
strictness refuses a batch (a length of ``1.0``, a number as a title, a null entry), by
msgspec, cleaned entry by entry. Odd catalogue answers cost time, never products.

The frame keeps the result as ``pd.ArrowDtype`` columns: each value reads as a list of
``{href, length, title, type, category}`` dicts, and Parquet stores them as ``list<struct>``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Annotated, Any

import msgspec
import pandas as pd
import pyarrow as pa
import pyarrow.json

__all__ = [
    "FILE_COLUMNS",
    "FILE_FIELDS",
    "FILE_LIST",
    "FILE_LIST_DTYPE",
    "INT64_MAX",
    "INT64_MIN",
    "FileLists",
    "all_objects",
    "file_list_array",
    "object_lines",
    "one_chunk",
    "read_json_lines",
    "submit",
]

FILE_COLUMNS = ("data", "related", "previews", "alternates")
FILE_FIELDS = ("href", "length", "title", "type", "category")
FILE = pa.struct(
    [(field, pa.int64() if field == "length" else pa.string()) for field in FILE_FIELDS]
)
FILE_LIST = pa.list_(FILE)
FILE_LIST_DTYPE = pd.ArrowDtype(FILE_LIST)
_LINKS_SCHEMA = pa.schema([(kind, FILE_LIST) for kind in FILE_COLUMNS])
_EMPTY = pa.scalar([], FILE_LIST)


_EXECUTOR: ThreadPoolExecutor
"""The one thread that runs JSON parsing jobs: the machine's other core, not a pool to tune.

Searches running at once share it; its thread starts with the first job.
"""


def _start_executor() -> None:
    """A new executor: at import, and in a forked child, which has no copy of the parent's
    thread (the parent's executor, copied, would believe it has one and never run a job)."""
    global _EXECUTOR
    _EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="terracat-files")


_start_executor()
os.register_at_fork(after_in_child=_start_executor)


def submit(job: Callable[..., Any], *args: Any) -> Future[Any]:
    """Run ``job`` on the background thread (whichever is this process's)."""
    return _EXECUTOR.submit(job, *args)


class FileLists:
    """The file lists of a batch of products, being parsed in the background.

    Only Arrow's parse runs in the background thread: every return to Python there would wait
    for the interpreter lock the calling thread holds while it decodes, so the checks and the
    lenient fallback run in :meth:`table`, in the caller, once the frame needs them.
    """

    def __init__(self, raw_links: Sequence[bytes]) -> None:
        self.raw_links = raw_links
        self._parsed: Future[pa.Table] | None = None
        blob = object_lines(raw_links)
        if blob is not None:
            self._parsed = submit(read_json_lines, blob, _LINKS_SCHEMA)

    def table(self) -> pa.Table:
        """The four file-list columns, one row per product, in order; no product's list null."""
        if not self.raw_links:
            return _LINKS_SCHEMA.empty_table()
        if self._parsed is None:
            return _parsed_leniently(self.raw_links)
        try:
            table = self._parsed.result()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            # a pretty-printed links object spans lines: once more, reading objects across them
            try:
                lines = b"\n".join(self.raw_links)
                table = read_json_lines(lines, _LINKS_SCHEMA, pretty=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return _parsed_leniently(self.raw_links)
        columns = {kind: one_chunk(table[kind]) for kind in FILE_COLUMNS}
        if table.num_rows != len(self.raw_links) or any(
            column.values.null_count for column in columns.values()
        ):
            return _parsed_leniently(self.raw_links)
        return pa.table(
            {
                kind: column.fill_null(_EMPTY) if column.null_count else column
                for kind, column in columns.items()
            }
        )


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


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_Int64 = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]


class _FileLink(msgspec.Struct, gc=False):
    href: str | None = None
    length: _Int64 | None = None
    title: str | None = None
    type: str | None = None
    category: str | None = None


class _FileLinks(msgspec.Struct, gc=False):
    data: list[_FileLink] = []
    related: list[_FileLink] = []
    previews: list[_FileLink] = []
    alternates: list[_FileLink] = []


_links_decoder = msgspec.json.Decoder(_FileLinks)
_generic = msgspec.json.Decoder()


def _parsed_leniently(raw_links: Sequence[bytes]) -> pa.Table:
    lists: dict[str, list[Any]] = {kind: [] for kind in FILE_COLUMNS}
    for raw in raw_links:
        try:
            links = msgspec.to_builtins(_links_decoder.decode(raw))
        except (msgspec.ValidationError, msgspec.DecodeError):
            links = _cleaned_links(raw)
        for kind in FILE_COLUMNS:
            lists[kind].append(links[kind])
    return pa.table({kind: pa.array(lists[kind], FILE_LIST) for kind in FILE_COLUMNS})


def _cleaned_links(raw: bytes) -> dict[str, list[dict[str, Any]]]:
    """The file entries that can be read from ill-shaped ``links``; the rest left out."""
    try:
        links = _generic.decode(raw)
    except msgspec.DecodeError:
        links = {}
    links = links if isinstance(links, dict) else {}
    return {
        kind: [_cleaned_link(link) for link in links.get(kind) or () if isinstance(link, dict)]
        if isinstance(links.get(kind), list)
        else []
        for kind in FILE_COLUMNS
    }


def _cleaned_link(link: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {
        k: str(link[k]) for k in ("href", "title", "type", "category") if link.get(k) is not None
    }
    with contextlib.suppress(KeyError, TypeError, ValueError, OverflowError):
        length = int(link["length"])
        if INT64_MIN <= length <= INT64_MAX:
            cleaned["length"] = length
    return cleaned


def file_list_array(values: Iterable[Any]) -> pa.Array:
    """File lists given as Python values (lists of dicts, or arrays of them from Parquet)."""
    return pa.array(
        [
            []
            if links is None
            else [{field: link.get(field) for field in FILE_FIELDS} for link in links]
            for links in values
        ],
        FILE_LIST,
    )


class _FileListDtypeName(pd.api.extensions.ExtensionDtype):
    """Lets pandas read the file-list dtype's name back from Parquet metadata.

    pandas records an Arrow-backed column's dtype in a Parquet file's metadata by its name
    (``list<item: struct<...>>[pyarrow]``) and cannot yet parse nested names back
    (pandas-dev/pandas#57411), so ``geopandas.read_parquet`` of a product frame would fail.
    Registered, this class turns exactly that name back into the dtype; it is never
    instantiated. Without terracat imported, ``geopandas.read_parquet(path,
    to_pandas_kwargs={"types_mapper": pd.ArrowDtype})`` reads such files.
    """

    name = "terracat-file-list-name"
    type = list

    @classmethod
    def construct_from_string(cls, string: str) -> Any:
        if string == str(FILE_LIST_DTYPE):
            return FILE_LIST_DTYPE
        raise TypeError(f"not terracat's file-list dtype: {string!r}")

    @classmethod
    def construct_array_type(cls) -> type[pd.api.extensions.ExtensionArray]:
        return pd.arrays.ArrowExtensionArray


pd.api.extensions.register_extension_dtype(_FileListDtypeName)
