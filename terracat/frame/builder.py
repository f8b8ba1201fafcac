"""Products -> one GeoDataFrame, one row per product, whichever protocol they came from.

Building is the hot path of a search. A protocol gives the builder its features as raw JSON
members (id, properties, geometry) and a :class:`Decoder`, which turns a batch of products'
properties into row values (:class:`DecodedRows`): Arrow columns or Python values by name, the
four file-list columns, and the ``properties`` text column. Batches are decoded in the
background while the calling thread decodes the next pages, and folded into partial frames
typed by the column contract (:mod:`terracat.frame.contract`). Footprints are built by GEOS in
vectorised calls (:mod:`terracat.frame.footprints`). OpenSearch's decoder is
:class:`terracat.protocols.opensearch.OpenSearchDecoder`.

A malformed answer never becomes another exception or a silently thinner frame: a product that
cannot become a row (properties or geometry of the wrong kind, a geometry GEOS cannot read,
nesting too deep for the caller's stack) is a :class:`~terracat.exceptions.SearchException`
naming it. GeoJSON's null (or absent) properties are a row with null columns and no files.
"""

from __future__ import annotations

import contextlib
import gc
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, Protocol

import geopandas
import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from terracat.exceptions import SearchException
from terracat.frame.contract import _folded_column, _Missing, _ordered, empty_frame
from terracat.frame.files import FILE_COLUMNS
from terracat.frame.footprints import footprints
from terracat.frame.jsonlines import all_objects

__all__ = [
    "BatchRows",
    "DecodedRows",
    "Decoder",
    "Decoding",
    "Feature",
    "FrameBuilder",
    "features_frame",
    "frame_from_batches",
    "gc_paused",
    "nesting_depth",
    "unusable_product",
]


class Feature(Protocol):
    """One product as a protocol's page holds it: its id, and its members as raw JSON."""

    @property
    def id(self) -> str | int | float: ...  # GeoJSON allows a number; the id column is text
    @property
    def properties(self) -> Any: ...  # bytes-like: raw JSON
    @property
    def geometry(self) -> Any: ...  # bytes-like: raw JSON


@dataclass
class DecodedRows:
    """What a decoder made of a batch of products' properties.

    ``columns`` holds Arrow arrays (a columnar path) or lists of Python values (a general path),
    by column name; ``files`` the four file-list columns, one row per product; ``text`` the
    original properties as JSON text; ``columnar`` whether the columnar path made them.
    """

    text: pa.Array
    columns: dict[str, pa.Array | Sequence[Any]]
    files: pa.Table
    columnar: bool


class Decoding(Protocol):
    """A batch being decoded (in the background, where the decoder can)."""

    def done(self) -> bool:
        """Whether :meth:`rows` would return without waiting."""
        ...

    def rows(self) -> DecodedRows:
        """The batch's rows, waited for; called once."""
        ...


class Decoder(Protocol):
    """What a protocol gives :class:`FrameBuilder`: it turns products' properties into rows.

    One decoder serves one search: it may learn from the batches it decoded (a schema) to decode
    the later ones faster, so :meth:`decode` is called in the products' order, and the builder
    takes the rows of the batches already decoded before it submits the next.
    """

    def decode(self, properties: Sequence[bytes]) -> Decoding:
        """Start decoding a batch: each text a JSON object (the builder checks them first)."""
        ...


@dataclass
class BatchRows:
    """Consecutive products parsed into row values: the share of one batch in building a frame.

    ``columns`` holds Arrow arrays when a columnar path decoded the batch, lists of Python
    values when a general path did (:class:`DecodedRows`).
    """

    ids: list[str]
    text: pa.Array  # the original properties, as JSON text
    geometries: list[bytes]
    columns: dict[str, pa.Array | Sequence[Any]]
    files: pa.Table  # the four file-list columns


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
    def of(cls, features: Sequence[Feature], source: str | None) -> _Members:
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
    """A batch of products whose properties are being decoded in the background."""

    def __init__(self, members: _Members, decoder: Decoder) -> None:
        self.ids = members.ids
        self.raw_properties = members.properties
        self.geometries = members.geometries
        self._decoding = decoder.decode(self.raw_properties)
        self._rows: BatchRows | None = None
        self.columnar = False
        """Whether the decoder's columnar path made the rows (known once :meth:`rows` ran)."""

    def parsed(self) -> bool:
        return self._rows is not None or self._decoding.done()

    def products(self) -> Iterator[tuple[str, bytes, bytes]]:
        """Each product's id, properties and geometry texts (to tell which one failed)."""
        if self._rows is None:
            texts: Iterable[bytes] = map(bytes, self.raw_properties)
        else:
            texts = (text.encode() for text in self._rows.text.to_pylist())
        return zip(self.ids, texts, self.geometries, strict=True)

    def rows(self) -> BatchRows:
        """The batch's rows (decoded once)."""
        if self._rows is None:
            decoded = self._decoding.rows()
            self.columnar = decoded.columnar
            self._rows = BatchRows(
                self.ids, decoded.text, self.geometries, decoded.columns, decoded.files
            )
            del self.raw_properties, self._decoding  # the page bodies and the parsed table
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
    where it is present. ``decoder``, the protocol's (one per search), turns the batches'
    properties into rows; ``source``, the URL the pages come from, is named by errors.

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
        decoder: Decoder,
        source: str | None = None,
    ) -> None:
        self.limit = limit
        self.source = source
        self.chunk = chunk
        self.batch = batch
        self.decoder = decoder
        self._seen: set[str] = set()
        self._waiting: list[Feature] = []
        self._batches: list[_Batch] = []
        self._pending_count = 0
        self._parts: list[geopandas.GeoDataFrame] = []
        self._kept = 0
        self.flattened = {"arrow": 0, "general": 0}
        """Batches flattened by each path so far: the decoder's columnar ("arrow") one and its
        general one, the slower."""

    def add(self, features: Sequence[Feature]) -> None:
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
        for batch in self._batches:
            if batch.parsed():  # decoded now, a batch the fast path refused improves the next
                batch.rows()
        self._batches.append(_Batch(members, self.decoder))
        self._waiting = []

    def _fold(self) -> None:
        self._submit()
        if not self._batches:
            return
        remaining = None if self.limit is None else max(0, self.limit - self._kept)
        rows = [batch.rows() for batch in self._batches]
        for batch in self._batches:
            self.flattened["arrow" if batch.columnar else "general"] += 1
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
    features: Sequence[Feature], source: str | None = None, *, decoder: Decoder
) -> geopandas.GeoDataFrame:
    """The frame of decoded features, in their order (``source``: their URL, for errors;
    ``decoder``: their protocol's, a new one)."""
    builder = FrameBuilder(source=source, decoder=decoder)
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
def gc_paused() -> Iterator[None]:
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
