"""Catalogue pages -> one GeoDataFrame, one row per product (the column contract of DESIGN.md).

Decoding is the hot path of a search. msgspec splits a page into ids, raw geometry and raw
properties; the properties of a batch of products are joined into the buffer of the frame's
``properties`` text column, and that same buffer goes to Arrow's JSON reader in a background
thread, with a schema learned from the search's first products
(:mod:`terracat._arrow_properties`). The columns are cut out of Arrow's result with Arrow
compute, so the calling thread holds the interpreter lock only to decode pages and join texts,
and the file lists stay Arrow ``list<struct>`` columns, never one Python dict per file.
A batch Arrow refuses, or could only flatten by knowing which keys each product has, takes the
general path: msgspec structs flattened in Python (:func:`general_rows`). Footprints are built
by GEOS in vectorised calls (:mod:`terracat._footprints`).

A malformed answer never becomes another exception or a silently thinner frame: a page
msgspec cannot decode (nested deeper than its recursion follows, say) is refused by
:func:`decode_page`, which paging retries; a product that cannot become a row (properties
or geometry of the wrong kind, a geometry GEOS cannot read, nesting too deep for the caller's
stack) is a :class:`~terracat.exceptions.SearchException` naming it. GeoJSON's null (or
absent) properties are a row with null columns and no files.
"""

from __future__ import annotations

import contextlib
import gc
import json
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import reduce
from itertools import chain
from typing import Any

import geopandas
import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from terracat._arrow_properties import (
    Layout,
    PropertySchema,
    Unlearnable,
    batch_columns,
    joined,
    merged,
    parse_batch,
)
from terracat._files import (
    FILE_COLUMNS,
    FILE_FIELDS,
    FILE_LIST,
    FILE_LIST_DTYPE,
    FileLists,
    all_objects,
    file_list_array,
    submit,
)
from terracat._footprints import footprints
from terracat._properties import decode_properties, learned_keys
from terracat.exceptions import SearchException

__all__ = [
    "FILE_COLUMNS",
    "FILE_FIELDS",
    "FrameBuilder",
    "Page",
    "decode_page",
    "empty_frame",
    "features_frame",
    "file_list_arrow",
    "nesting_depth",
    "normalise_frame",
    "unusable_product",
]

CORE_COLUMNS = ("id", "title", "collection")
TIME_COLUMNS = ("beginningDateTime", "endingDateTime", "date", "published", "updated", "available")
KNOWN_DTYPES: dict[str, str] = {
    "cloudCover": "float64",
    "relativeOrbitNumber": "Int64",
    "orbitNumber": "Int64",
    "tileId": "string",
    "orbitDirection": "string",
    "productType": "string",
    "productGroupId": "string",
    "platformShortName": "string",
    "platformSerialIdentifier": "string",
    "instrumentShortName": "string",
    "sensorType": "string",
}


class _Links(msgspec.Struct):
    first: list[dict[str, Any]] = []
    previous: list[dict[str, Any]] = []
    next: list[dict[str, Any]] = []
    last: list[dict[str, Any]] = []


class _PageProperties(msgspec.Struct):
    links: _Links = msgspec.field(default_factory=_Links)


class _Feature(msgspec.Struct):
    id: str | int | float  # GeoJSON allows a number; the frame's id column is text
    properties: msgspec.Raw = msgspec.Raw(b"null")  # absent: read as GeoJSON's null
    geometry: msgspec.Raw = msgspec.Raw(b"null")


class Page(msgspec.Struct):
    """One catalogue answer: totals, paging links, and features kept as raw JSON."""

    features: list[_Feature] = []
    totalResults: int | None = None  # the protocol's camelCase names
    startIndex: int | None = None
    itemsPerPage: int | None = None
    properties: _PageProperties = msgspec.field(default_factory=_PageProperties)


_page_decoder = msgspec.json.Decoder(Page)


def decode_page(body: bytes) -> Page:
    """Decode a catalogue page (a ``msgspec.ValidationError``/``DecodeError`` when malformed).

    JSON is UTF-8, and msgspec does not check the raw parts it keeps, so the whole body is
    checked first (by Arrow, without a copy): no column is ever made of bytes that are not text.
    msgspec recurses once per nesting level, bounded by Python's recursion limit, and skipping
    a raw part recurses as much as reading it: a page nested deeper is refused here, whole (a
    scan of the depth beforehand would cost several times the decoding).
    """
    if not _is_utf8(body):
        raise msgspec.DecodeError("the page is not UTF-8 text")
    try:
        return _page_decoder.decode(body)
    except RecursionError:
        raise msgspec.DecodeError(
            "the page nests arrays and objects too deeply to be read (deeper than Python's "
            "recursion limit)"
        ) from None


def _is_utf8(body: bytes) -> bool:
    large = len(body) >= 2**31
    size = pa.py_buffer(np.array([0, len(body)], np.int64 if large else np.int32))
    binary, text = (pa.large_binary(), pa.large_string()) if large else (pa.binary(), pa.string())
    try:
        pa.Array.from_buffers(binary, 1, [None, size, pa.py_buffer(body)]).cast(text)
    except pa.ArrowInvalid:
        return False
    return True


def _flatten(properties: Any) -> dict[str, Any]:
    """The row of one product: its sections' keys as columns, first section wins a name clash.

    Sections are merged with ``dict.update`` in reverse order of precedence (C speed, the first
    acquisition block's parameters last), rather than key by key. Other scalar properties are
    added afterwards (:func:`_page_values`).
    """
    row: dict[str, Any] = {}
    first_parameters = None
    for block in reversed(properties.acquisitionInformation):
        if block.instrument:
            row.update(block.instrument)
        if block.platform:
            row.update(block.platform)
        if block.acquisitionParameters:
            row.update(block.acquisitionParameters)
            first_parameters = block.acquisitionParameters
    row["title"] = properties.title
    row["collection"] = properties.parentIdentifier
    for section, values in (
        ("productInformation", properties.productInformation),
        ("additionalAttributes", properties.additionalAttributes),
    ):
        if not values:
            continue
        if row.keys().isdisjoint(values):
            row.update(values)
        else:
            for key, value in values.items():
                row[f"{section}_{key}" if key in row else key] = value
    if first_parameters is not None:
        row["beginningDateTime"] = first_parameters.get("beginningDateTime")
        row["endingDateTime"] = first_parameters.get("endingDateTime")
    return row


_SCALARS = frozenset((str, int, float, bool))


def _page_values(rows: list[dict[str, Any]], decoded: Sequence[Any]) -> dict[str, Sequence[Any]]:
    """A page's rows by column, with the other scalar properties added where no section gave
    the row that name.

    Those names are every key learned in this process, most absent from these products: only
    present values are added, so a frame's columns do not depend on what was searched before.
    Lists and objects are left out. When the rows share one key layout (most pages), a name is
    either in every row or in none, so the properties are added as whole columns.
    """
    layouts = list(map(tuple, rows))
    if rows and layouts.count(layouts[0]) == len(layouts):
        columns = _transposed(rows)
        for key, values in _scalar_properties(decoded):
            columns.setdefault(key, values)
        return columns
    for key, values in _scalar_properties(decoded):
        for row, value in zip(rows, values, strict=True):
            if value is not None and key not in row:
                row[key] = value
    return _transposed(rows)


def _scalar_properties(decoded: Sequence[Any]) -> Iterator[tuple[str, list[Any]]]:
    """The learned top-level properties that some of these products have, as scalar columns."""
    for key in learned_keys():
        # a struct from before the key was learned lacks it, as its product did (strictly decoded)
        values = [getattr(properties, key, None) for properties in decoded]
        if values.count(None) == len(values):
            continue
        scalars = [value if type(value) in _SCALARS else None for value in values]
        if scalars.count(None) != len(scalars):
            yield key, scalars


@dataclass
class BatchRows:
    """Consecutive products parsed into row values: the share of one batch in building a frame.

    ``columns`` holds Arrow arrays when Arrow flattened the batch, lists of Python values when
    the general path did.
    """

    ids: list[str]
    text: pa.Array  # the original properties, as JSON text
    geometries: list[bytes]
    columns: dict[str, pa.Array | Sequence[Any]]
    files: pa.Table  # the four file-list columns


def general_rows(raw_properties: Sequence[bytes]) -> tuple[dict[str, Sequence[Any]], pa.Table]:
    """Products flattened by msgspec and Python, whatever their shape: the path for batches
    Arrow's reader refuses or cannot flatten exactly."""
    with _gc_paused():
        decoded = [decode_properties(raw) for raw in raw_properties]
        files = FileLists([p.links for p in decoded])  # parsed while the rows are flattened
        rows = [_flatten(properties) for properties in decoded]
        values = _page_values(rows, decoded)
    return values, files.table()


class _Answered:
    """Stands in for the catalogue's answer when a product in it turns out unusable while the
    frame is built: the response is gone by then (its body decoded, then dropped)."""

    status_code = 200
    reason = "OK"
    headers: dict[str, str] = {}  # noqa: RUF012 - read-only stand-in
    text = ""

    def __init__(self, url: str | None) -> None:
        self.url = url or "a search"

    def json(self) -> Any:
        raise ValueError("the body is not kept")


def unusable_product(product: str, problem: str, source: str | None = None) -> SearchException:
    """The error for a product of a catalogue answer that cannot become a row.

    ``source`` is the URL the product came from, when the caller knows it.
    """
    return SearchException(_Answered(source), f"product {product!r}: {problem}")


_KINDS = {ord("["): "a list", ord('"'): "a string", ord("t"): "true", ord("f"): "false"}


def _kind(text: memoryview) -> str:
    """What a JSON text that is neither an object nor null is, in words, with its start."""
    shown = bytes(text[:40]).decode("utf-8", "replace") + ("..." if len(text) > 40 else "")
    return f"{_KINDS.get(text[0], 'a number')} ({shown})"


def _product_id(value: str | int | float) -> str:
    """A product id as text: a number (as GeoJSON allows) as the catalogue wrote it."""
    return value if type(value) is str else msgspec.json.encode(value).decode()


def _checked_members(
    ids: list[str], texts: Sequence[bytes], member: str, source: str | None
) -> list[bytes]:
    """Texts of a feature member that GeoJSON wants an object or null: null read as ``empty``
    where the member is properties; anything else is an error naming the product."""
    empty = b"{}" if member == "properties" else b"null"
    checked = []
    for product, text in zip(ids, texts, strict=True):
        view = memoryview(text)
        if view == b"null":
            text = empty
        elif view[:1] != b"{":
            problem = f"its {member} member is {_kind(view)}; GeoJSON wants an object or null"
            raise unusable_product(product, problem, source)
        checked.append(text)
    return checked


@dataclass
class _Members:
    """The parts of features a batch reads, checked: ids as text, properties and geometries
    objects (or null geometries).

    Members of the wrong JSON kind are refused here, before any parser sees them; an absent
    or null ``properties`` is read as ``{}`` (GeoJSON allows it), so that such a product is a
    row with null columns and no files on both paths.
    """

    ids: list[str]
    properties: list[bytes]
    geometries: list[bytes]

    @classmethod
    def of(cls, features: Sequence[_Feature], source: str | None) -> _Members:
        ids = [f.id for f in features]
        if not all(type(i) is str for i in ids):
            ids = list(map(_product_id, ids))
        properties = [f.properties for f in features]
        if not all_objects(properties):
            properties = _checked_members(ids, properties, "properties", source)
        geometries = [bytes(f.geometry) for f in features]
        if not all_objects(geometries):
            geometries = _checked_members(ids, geometries, "geometry", source)
        return cls(ids, properties, geometries)


class _Batch:
    """A batch of products whose properties are being parsed in the background."""

    def __init__(self, members: _Members, schema: tuple[pa.StructType, Layout] | None) -> None:
        self.ids = members.ids
        self.raw_properties = members.properties
        self.geometries = members.geometries
        self.schema = schema
        data, offsets = joined(self.raw_properties)
        readable = schema is not None and all_objects(self.raw_properties)
        self._parsed = submit(parse_batch, data, offsets, schema[0] if readable else None)
        self._rows: BatchRows | None = None
        self.in_arrow = False
        """Whether Arrow flattened the batch (known once :meth:`rows` ran)."""

    def parsed(self) -> bool:
        return self._rows is not None or self._parsed.done()

    def products(self) -> Iterator[tuple[str, bytes, bytes]]:
        """Each product's id, properties and geometry texts (to tell which one failed)."""
        if self._rows is None:
            texts: Iterable[bytes] = map(bytes, self.raw_properties)
        else:
            texts = (text.encode() for text in self._rows.text.to_pylist())
        return zip(self.ids, texts, self.geometries, strict=True)

    def rows(self, learner: PropertySchema) -> BatchRows:
        """The batch's rows (flattened once); a batch Arrow could not flatten teaches
        ``learner`` what the schema lacked, for the batches submitted after it."""
        if self._rows is None:
            parsed = self._parsed.result()
            found = None
            if parsed.table is not None and self.schema is not None:
                found = batch_columns(parsed.table, *self.schema)
            if found is None:
                if self.schema is not None:
                    learner.learn(self.raw_properties)
                columns, files = general_rows(self.raw_properties)
            else:
                columns, files = found
            self.in_arrow = found is not None
            self._rows = BatchRows(self.ids, parsed.text, self.geometries, columns, files)
            del self.raw_properties, self._parsed  # the page bodies and the parsed table
        return self._rows


def frame_from_batches(
    batches: Sequence[BatchRows],
    limit: int | None = None,
    seen: set[str] | None = None,
    source: str | None = None,
) -> geopandas.GeoDataFrame:
    """The frame of parsed batches, in order; an id seen before is dropped, then ``limit``
    applied. ``seen`` carries the ids of earlier frames of the same search, ``source`` the
    URL errors name."""
    ids = [i for batch in batches for i in batch.ids]
    if not ids:
        return empty_frame()
    seen = set() if seen is None else seen
    keep = [not (i in seen or seen.add(i)) for i in ids]  # type: ignore[func-returns-value]
    if limit is not None:
        kept = 0
        for position, flag in enumerate(keep):
            if flag:
                kept += 1
                keep[position] = kept <= limit
    mask = None if all(keep) else pa.array(keep)

    def gathered(values: Iterator[Any]) -> list[Any]:
        if mask is None:
            return list(values)
        return [value for value, flag in zip(values, keep, strict=True) if flag]

    names = dict.fromkeys(chain.from_iterable(batch.columns for batch in batches))
    columns: dict[str, Any] = {"id": pd.array(gathered(iter(ids)), dtype="string")}
    for name in names:
        chunks = [batch.columns.get(name, _Missing(len(batch.ids))) for batch in batches]
        columns[name] = _folded_column(name, chunks, mask)
    columns["properties"] = _text_column([batch.text for batch in batches], mask)
    texts = gathered(g for batch in batches for g in batch.geometries)
    geometries = footprints(texts)
    _check_footprints(columns["id"], texts, geometries, source)
    file_lists = pa.concat_tables([batch.files for batch in batches])
    if mask is not None:
        file_lists = file_lists.filter(mask)
    for kind in FILE_COLUMNS:
        columns[kind] = pd.arrays.ArrowExtensionArray(file_lists[kind].combine_chunks())
    frame = geopandas.GeoDataFrame(columns, geometry=geometries, crs="EPSG:4326")
    return frame[_ordered(frame)]


def _check_footprints(
    ids: Sequence[str], texts: Sequence[bytes], geometries: np.ndarray, source: str | None
) -> None:
    """Refuse a product whose geometry GEOS cannot read: a null footprint in its place would
    be a silent partial result (a spatial filter would drop the product without a word)."""
    for position in np.flatnonzero(shapely.is_missing(geometries)):
        text = texts[position]
        if text != b"null":
            shown = text[:60].decode("utf-8", "replace") + ("..." if len(text) > 60 else "")
            problem = f"its geometry is not a GeoJSON geometry GEOS can read: {shown}"
            raise unusable_product(ids[position], problem, source)


def _text_column(
    texts: Sequence[pa.Array], mask: pa.Array | None
) -> pd.api.extensions.ExtensionArray:
    """The batches' JSON texts as one ``string`` column, their buffers used as they are."""
    if len({text.type for text in texts}) > 1:
        texts = [text.cast(pa.large_string()) for text in texts]
    column = pa.chunked_array(texts)
    return pd.arrays.ArrowStringArray(column if mask is None else column.filter(mask))


FRAME_CHUNK = 10_000
"""Products parsed before they are folded into a partial frame (bounds a search's peak memory)."""

BATCH = 2_000
"""Products whose properties Arrow parses in one background job.

Pages of 100 are gathered into larger jobs because each costs the background thread waits for
the interpreter lock; the last job of a frame is waited for whole, so they are not made larger.
"""


class FrameBuilder:
    """Builds a search's frame page by page.

    Products are gathered into batches of ``batch``, parsed in the background as soon as a
    batch is full. Every ``chunk`` products, the batches are folded into a partial frame, so
    that the per-product objects of the general path never exist for the whole result at
    once; the partial frames are concatenated at the end with the dtypes each column has
    where it is present. ``arrow=False`` flattens every batch by the general path (to compare
    the two); ``source``, the URL the pages come from, is named by errors.

    A product that cannot become a row is a :class:`~terracat.exceptions.SearchException`
    naming it, whichever step finds out: one of the wrong JSON kind when its batch is made,
    one nested deeper than a parser's recursion can follow (Python's recursion limit, which
    counts the caller's stack too: msgspec, json, Python functions) in any step.
    """

    def __init__(
        self,
        limit: int | None = None,
        chunk: int = FRAME_CHUNK,
        batch: int = BATCH,
        *,
        arrow: bool = True,
        source: str | None = None,
    ) -> None:
        self.limit = limit
        self.source = source
        self.chunk = chunk
        self.batch = batch
        self._schema = PropertySchema(usable=arrow)
        self._seen: set[str] = set()
        self._waiting: list[_Feature] = []
        self._batches: list[_Batch] = []
        self._pending_count = 0
        self._parts: list[geopandas.GeoDataFrame] = []
        self._kept = 0
        self.flattened = {"arrow": 0, "general": 0}
        """Batches flattened by each path so far (the general one is the slower)."""

    def add(self, features: Sequence[_Feature]) -> None:
        """Take one page's features (the ``prepare`` step of :meth:`Pages.collect`)."""
        with self._deep_products_refused():
            self._waiting.extend(features)
            self._pending_count += len(features)
            if len(self._waiting) >= self.batch:
                self._submit()
            if self._pending_count >= self.chunk:
                self._fold()

    @contextlib.contextmanager
    def _deep_products_refused(self) -> Iterator[None]:
        """A RecursionError, wherever in the parse, as the error naming the deepest product.

        The parsers bound their recursion by Python's limit, which also counts the caller's
        stack: a product that decode_page read in a worker thread can be too deep for the
        calling thread. Which one it was is found only then, by :func:`nesting_depth`.
        """
        try:
            yield
        except RecursionError:
            raise self._too_deep() from None

    def _too_deep(self) -> SearchException:
        products = chain(
            ((_product_id(f.id), bytes(f.properties), bytes(f.geometry)) for f in self._waiting),
            chain.from_iterable(batch.products() for batch in self._batches),
        )
        deepest = (0, "", "")
        for product, properties, geometry in products:
            for member, text in (("properties", properties), ("geometry", geometry)):
                deepest = max(deepest, (nesting_depth(text), product, member))
        depth, product, member = deepest
        problem = (
            f"its {member} nest arrays and objects {depth} levels deep, deeper than Python's "
            "recursion limit lets them be read here"
        )
        return unusable_product(product, problem, self.source)

    def _submit(self) -> None:
        if not self._waiting:
            return
        members = _Members.of(self._waiting, self.source)
        if self._schema.type is None and self._schema.usable:
            self._schema.learn(members.properties[: PropertySchema.SAMPLE])
        for batch in self._batches:
            if batch.parsed():  # flattened now, a batch Arrow refused improves the next ones
                batch.rows(self._schema)
        self._batches.append(_Batch(members, self._schema.current()))
        self._waiting = []

    def _fold(self) -> None:
        self._submit()
        if not self._batches:
            return
        remaining = None if self.limit is None else max(0, self.limit - self._kept)
        rows = [batch.rows(self._schema) for batch in self._batches]
        for batch in self._batches:
            self.flattened["arrow" if batch.in_arrow else "general"] += 1
        part = frame_from_batches(rows, remaining, self._seen, self.source)
        self._batches, self._pending_count = [], 0
        if len(part):
            self._parts.append(part)
            self._kept += len(part)

    def build(self) -> geopandas.GeoDataFrame:
        with self._deep_products_refused():
            self._fold()
        if not self._parts:
            return empty_frame()
        if len(self._parts) == 1:
            return self._parts[0]
        dtypes: dict[str, Any] = {}
        for part in self._parts:
            for name, dtype in part.dtypes.items():
                if name not in dtypes or pd.api.types.is_object_dtype(dtypes[name]):
                    dtypes[name] = dtype
        frame = pd.concat(self._parts, ignore_index=True)
        self._parts = []
        for name, dtype in dtypes.items():
            if name != "geometry" and frame[name].dtype != dtype:
                with contextlib.suppress(TypeError, ValueError, OverflowError):
                    frame[name] = frame[name].astype(dtype)
        frame = geopandas.GeoDataFrame(frame, geometry="geometry", crs="EPSG:4326")
        return frame[_ordered(frame)]


PARSE_BATCH = 1_000
"""Features parsed together when a frame is made from many at once."""


def features_frame(
    features: Sequence[_Feature], source: str | None = None
) -> geopandas.GeoDataFrame:
    """The frame of decoded features, in their order (``source``: their URL, for errors)."""
    builder = FrameBuilder(source=source)
    for start in range(0, len(features), PARSE_BATCH):
        builder.add(features[start : start + PARSE_BATCH])
    return builder.build()


_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|(?P<open>[\[{])|(?P<close>[\]}])')


def nesting_depth(text: bytes) -> int:
    """How deeply a JSON text nests arrays and objects (0 for a scalar), without recursion.

    Brackets inside strings do not count. Slow (a regular expression, then Python per
    bracket): only for telling which product failed.
    """
    depth = deepest = 0
    for token in _JSON_TOKENS.finditer(text):
        if token.lastgroup == "open":
            depth += 1
            deepest = max(deepest, depth)
        elif token.lastgroup == "close":
            depth -= 1
    return deepest


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a page's objects are built.

    Decoding creates hundreds of thousands of containers, none of them cyclic; every generation-0
    collection would walk them all again, which costs more than the decoding itself. The pause is
    counted so that concurrent parsing threads re-enable the collector only when the last ends.
    """
    global _gc_pauses
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled[0] = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled[0]:
                gc.enable()


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = [True]


def _ordered(frame: pd.DataFrame) -> list[str]:
    first = [c for c in (*CORE_COLUMNS, *TIME_COLUMNS) if c in frame.columns]
    last = [c for c in (*FILE_COLUMNS, "properties", "geometry") if c in frame.columns]
    middle = [c for c in frame.columns if c not in first and c not in last]
    return first + middle + last


def _looks_like_time(name: str) -> bool:
    return name.endswith(("DateTime", "Date", "Time")) or name in TIME_COLUMNS


ARROW_TYPES = {
    "float64": pa.float64(),
    "Int64": pa.int64(),
    "string": pa.string(),
}
UTC_MILLISECONDS = pa.timestamp("ms", tz="UTC")
_PANDAS_TYPES = {
    pa.string(): pd.StringDtype(),
    pa.large_string(): pd.StringDtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


def _transposed(rows: list[dict[str, Any]]) -> dict[str, Sequence[Any]]:
    """Rows as columns (``None`` where a row lacks a name), transposed by ``zip`` in C.

    Rows of a search mostly share one key layout; the others are first filled out to the
    union of names, in order of first appearance, with dict operations rather than per key.
    """
    if not rows:
        return {}
    layouts = list(map(tuple, rows))
    names = layouts[0]
    if layouts.count(names) != len(layouts):
        names = tuple(dict.fromkeys(chain.from_iterable(dict.fromkeys(layouts))))
        template = dict.fromkeys(names)
        rows = [
            row if layout == names else {**template, **row}
            for row, layout in zip(rows, layouts, strict=True)
        ]
    return dict(zip(names, zip(*map(dict.values, rows), strict=True), strict=True))


class _Missing(int):
    """A batch's share of a column it does not have: that many nulls."""


def _folded_column(
    name: str, chunks: Sequence[pa.Array | Sequence[Any] | _Missing], mask: pa.Array | None
) -> Any:
    """One column of a fold from its batches' shares, typed by Arrow in C++ where they allow.

    A field whose values mix types (a number here, text there) takes the slower path of
    :func:`_column`, which keeps odd values as objects rather than failing.
    """
    if not any(isinstance(chunk, pa.Array) for chunk in chunks):
        values = _values(chunks, mask)  # the general path's: typed all at once, as they came
        try:
            column = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            return _column(name, values)
        return _typed_column(name, column)
    try:
        shares = [
            chunk if isinstance(chunk, pa.Array) else pa.array(_python(chunk)) for chunk in chunks
        ]
        common = reduce(merged, (share.type for share in shares))
        column = pa.concat_arrays([share.cast(common) for share in shares])
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, Unlearnable):
        return _column(name, _values(chunks, mask))
    return _typed_column(name, column if mask is None else column.filter(mask))


def _values(chunks: Sequence[pa.Array | Sequence[Any] | _Missing], mask: pa.Array | None) -> list:
    """The Python values of a column's shares, those ``mask`` keeps."""
    values = list(chain.from_iterable(map(_python, chunks)))
    if mask is None:
        return values
    return [value for value, flag in zip(values, mask.to_pylist(), strict=True) if flag]


def _python(chunk: pa.Array | Sequence[Any] | _Missing) -> Sequence[Any]:
    if isinstance(chunk, _Missing):
        return (None,) * chunk
    if isinstance(chunk, pa.Array):
        return chunk.to_pylist()
    return chunk


def _typed_column(name: str, column: pa.Array) -> Any:
    """An Arrow column as the contract's dtype: known names and times cast, the rest as read."""
    target = ARROW_TYPES.get(KNOWN_DTYPES.get(name, ""))
    if target is None and _looks_like_time(name) and column.type in (pa.string(), pa.null()):
        target = UTC_MILLISECONDS
    if target is not None and column.type != target:
        try:
            column = column.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return _column(name, column.to_pylist())
    if column.type == pa.null():
        return pd.array([None] * len(column), dtype=object)
    return column.to_pandas(types_mapper=_PANDAS_TYPES.get)


def _column(name: str, values: list[Any]) -> Any:
    """One column with a stable dtype: UTC datetimes, nullable integers, floats, strings."""
    dtype = KNOWN_DTYPES.get(name)
    if dtype is None and _looks_like_time(name):
        return _as_time(values)
    if dtype is None:
        dtype = _inferred_dtype(values)
    if dtype == "string":
        try:
            return pd.arrays.ArrowStringArray(pa.array(values, pa.string()))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
    try:
        return pd.array(values, dtype=dtype)
    except (ValueError, TypeError, OverflowError):  # 2**70 is an int, but no Int64
        return pd.array(values, dtype=object)  # a catalogue sent something odd: keep it as it came


def _as_time(values: list[Any]) -> Any:
    if not all(v is None or isinstance(v, str) for v in values):
        return pd.array(values, dtype=object)
    try:
        parsed = pd.to_datetime(values, utc=True, format="ISO8601")
    except (ValueError, TypeError):
        return pd.array(values, dtype=object)
    return parsed.as_unit("ms")


def _inferred_dtype(values: list[Any]) -> str:
    kinds = {type(v) for v in values}
    kinds.discard(type(None))
    if not kinds:
        return "object"
    if kinds <= {bool}:
        return "boolean"
    if kinds <= {int}:
        return "Int64"
    if kinds <= {int, float}:
        return "float64"
    if kinds <= {str}:
        return "string"
    return "object"


def empty_frame() -> geopandas.GeoDataFrame:
    """A frame with the contract's core columns and no rows, for searches that match nothing."""
    columns: dict[str, pd.Series] = {
        "id": pd.Series(dtype="string"),
        "title": pd.Series(dtype="string"),
        "collection": pd.Series(dtype="string"),
    }
    for name in TIME_COLUMNS:
        columns[name] = pd.Series(dtype="datetime64[ms, UTC]")
    for name in FILE_COLUMNS:
        columns[name] = pd.Series(dtype=FILE_LIST_DTYPE)
    columns["properties"] = pd.Series(dtype="string")
    return geopandas.GeoDataFrame(
        columns, geometry=geopandas.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326"
    )


def normalise_frame(frame: pd.DataFrame) -> geopandas.GeoDataFrame:
    """A frame read back from Parquet (or built elsewhere) brought back to the contract.

    File lists become the Arrow ``list<struct>`` columns a search makes, whether they come back
    as such, as arrays of dicts (files written without pandas metadata, or by terracat before
    0.2), or as lists of dicts.
    """
    frame = frame.copy()
    for kind in FILE_COLUMNS:
        if kind in frame.columns and frame[kind].dtype != FILE_LIST_DTYPE:
            frame[kind] = pd.arrays.ArrowExtensionArray(file_list_arrow(frame[kind]))
    if "properties" in frame.columns:
        texts = [
            v if v is None or isinstance(v, str) else json.dumps(v) for v in frame["properties"]
        ]
        frame["properties"] = pd.array(texts, dtype="string")
    if not isinstance(frame, geopandas.GeoDataFrame):
        frame = geopandas.GeoDataFrame(frame, geometry="geometry", crs="EPSG:4326")
    return frame


def file_list_arrow(column: pd.Series) -> pa.Array | pa.ChunkedArray:
    """A file-list column as Arrow ``list<struct>``, whichever form the frame holds it in."""
    if isinstance(column.dtype, pd.ArrowDtype):
        with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return pa.array(column.array).cast(FILE_LIST)
    return file_list_array(column)


def as_naive_utc(value: Any) -> Any:
    """A frame timestamp as the naive-UTC ``datetime`` the reference client's objects carry."""
    if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return None
    return pd.Timestamp(value).tz_convert("UTC").tz_localize(None).to_pydatetime()
