"""Products' file lists as Arrow ``list<struct>`` columns.

A product's file lists (OpenSearch's ``properties.links``) hold most of its JSON (8 to 20 file
entries of five fields). A protocol's fast path reads them along with the rest of the properties
(:mod:`terracat.protocols.opensearch.arrow_rows`); here are their Arrow type and
:class:`FileLists`, which parses the raw ``links`` of the products the general path flattens:
newline-delimited, by Arrow's JSON reader in the background thread
(:mod:`terracat.frame.background`; the C++ parser releases the GIL), and when Arrow's
strictness refuses a batch (a length of ``1.0``, a number as a title, a null entry), by
msgspec, cleaned entry by entry. Odd catalogue answers cost time, never products.

The frame keeps the result as ``pd.ArrowDtype`` columns: each value reads as a list of
``{href, length, title, type, category}`` dicts, and Parquet stores them as ``list<struct>``
(:mod:`terracat.frame.io` lets pandas read that dtype back).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from typing import Annotated, Any

import msgspec
import pandas as pd
import pyarrow as pa

from terracat.frame.background import submit
from terracat.frame.jsonlines import object_lines, one_chunk, read_json_lines

__all__ = [
    "FILE",
    "FILE_COLUMNS",
    "FILE_FIELDS",
    "FILE_LIST",
    "FILE_LIST_DTYPE",
    "INT64_MAX",
    "INT64_MIN",
    "FileLists",
    "file_list_array",
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
    """File lists given as Python values (lists of dicts, or arrays of them from Parquet, or
    their JSON text, as a GeoJSON export can come back from ``geopandas.read_file``)."""
    return pa.array(
        [
            []
            if links is None
            else [{field: link.get(field) for field in FILE_FIELDS} for link in _loaded(links)]
            for links in values
        ],
        FILE_LIST,
    )


def _loaded(links: Any) -> Any:
    """A file list, parsed when it is JSON text."""
    return json.loads(links) if isinstance(links, str) else links
