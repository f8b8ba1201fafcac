"""Products' properties parsed by Arrow's JSON reader straight into columns, off the lock.

Decoding properties into Python objects and flattening them row by row held the interpreter
lock for most of a search's parse. Here a batch of products' properties, joined into the very
buffer the ``properties`` text column is made of, goes to Arrow's JSON reader in a background
thread with an explicit schema, and the frame's columns are cut out of the result with Arrow
compute: the calling thread only decodes pages and joins texts.

The schema is learned per search from the first products (decoded by msgspec, so that text
stays text where Arrow would guess a timestamp), and Arrow's reader is strict: a key it was not
told of is inferred and shows in the result's schema, a value of another type fails the read.
Either way, and wherever the contract's flattening depends on which keys a product *has*
rather than on their values (a name two sections give, a section given twice), this module
answers None and the batch is flattened by the general path (:mod:`terracat.protocols.opensearch.rows`),
which then teaches the schema what it lacked. So the fast path reproduces that path exactly,
and odd catalogue answers cost time, never products.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from terracat.frame.contract import Unlearnable, merged
from terracat.frame.files import FILE, FILE_COLUMNS, FILE_FIELDS, FILE_LIST, INT64_MAX, INT64_MIN
from terracat.frame.jsonlines import one_chunk, read_objects, text_array
from terracat.protocols.opensearch.rows import COMMON_KEYS, SECTIONS, columnable

__all__ = [
    "Layout",
    "ParsedBatch",
    "PropertySchema",
    "batch_columns",
    "learned_type",
    "parse_batch",
]

ACQUISITION = "acquisitionInformation"
ACQUISITION_SECTIONS = ("acquisitionParameters", "instrument", "platform")
PRODUCT_SECTIONS = ("productInformation", "additionalAttributes")
TIMES = ("beginningDateTime", "endingDateTime")
SCALAR_TYPES = frozenset((pa.string(), pa.int64(), pa.float64(), pa.bool_(), pa.null()))


def learned_type(value: Any) -> pa.DataType:
    """The Arrow type the JSON reader should give ``value`` (never a timestamp)."""
    if value is None:
        return pa.null()
    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise Unlearnable(f"{value} does not fit 64 bits")
        return pa.int64()
    if isinstance(value, float):
        return pa.float64()
    if isinstance(value, str):
        return pa.string()
    if isinstance(value, list):
        item = pa.null()
        for element in value:
            item = merged(item, learned_type(element))
        return pa.list_(item)
    if isinstance(value, dict):
        fields: dict[str, pa.DataType] = {}
        for key, element in value.items():
            fields[key] = merged(fields.get(key, pa.null()), learned_type(element))
        return pa.struct(list(fields.items()))
    raise Unlearnable(f"no JSON value: {type(value).__name__}")


def _with_file_links(properties: pa.StructType) -> pa.StructType:
    """The learned type with ``links`` read as file lists: the five fields typed as the frame
    needs them (a value that does not fit fails the read, and the lenient path takes it), the
    other fields of a link and other kinds of links as learned."""
    fields = {field.name: field.type for field in properties}
    links = fields.get("links", pa.struct([]))
    if not pa.types.is_struct(links):
        raise Unlearnable(f"links given as {links}")
    kinds = {field.name: field.type for field in links}
    for kind in FILE_COLUMNS:
        learned = kinds.get(kind, pa.list_(pa.null()))
        if not pa.types.is_list(learned):
            raise Unlearnable(f"links.{kind} given as {learned}")
        entry = learned.value_type
        extra = [f for f in entry if f.name not in FILE_FIELDS] if pa.types.is_struct(entry) else []
        if not (pa.types.is_struct(entry) or entry == pa.null()):
            raise Unlearnable(f"links.{kind} entries given as {entry}")
        kinds[kind] = pa.list_(pa.struct([*FILE, *extra]))
    fields["links"] = pa.struct(list(kinds.items()))
    return pa.struct(list(fields.items()))


def _without_file_fields(properties: dict[str, Any]) -> dict[str, Any]:
    """Properties whose file links lack the five fields the schema types by force."""
    links = properties.get("links")
    if not isinstance(links, dict):
        return properties
    trimmed = dict(links)
    for kind in FILE_COLUMNS:
        entries = links.get(kind)
        if isinstance(entries, list):
            trimmed[kind] = [
                {k: v for k, v in entry.items() if k not in FILE_FIELDS}
                if isinstance(entry, dict)
                else entry
                for entry in entries
            ]
    return {**properties, "links": trimmed}


@dataclass(frozen=True)
class Layout:
    """Where each column of a batch comes from, when that does not depend on key presence."""

    acquisition: dict[str, tuple[str, ...]]  # section -> its names, in column order
    product: dict[str, tuple[str, ...]]
    scalars: tuple[str, ...]  # other top-level scalar names
    times: bool  # beginningDateTime/endingDateTime come from the acquisition parameters


def layout_of(properties: pa.StructType) -> Layout | None:
    """The layout of products of this type, or None when the general path must flatten them.

    That is when a section holds lists or objects, or a name has more than one source (the
    general path then decides by which keys each product has, which Arrow does not show).
    """
    fields = {field.name: field.type for field in properties}
    blocks = fields.get(ACQUISITION, pa.list_(pa.struct([])))
    if not (pa.types.is_list(blocks) and pa.types.is_struct(blocks.value_type)):
        return None
    block = {field.name: field.type for field in blocks.value_type}
    acquisition: dict[str, tuple[str, ...]] = {}
    product: dict[str, tuple[str, ...]] = {}
    for sections, source, target in (
        (ACQUISITION_SECTIONS, block, acquisition),
        (PRODUCT_SECTIONS, fields, product),
    ):
        for section in sections:
            kind = source.get(section, pa.struct([]))
            if not pa.types.is_struct(kind) or any(f.type not in SCALAR_TYPES for f in kind):
                return None
            target[section] = tuple(f.name for f in kind)
    if any(
        fields.get(name, pa.null()) not in SCALAR_TYPES for name in ("title", "parentIdentifier")
    ):
        return None
    scalars = tuple(
        name
        for name, kind in fields.items()
        if name not in SECTIONS and name != "title" and kind in SCALAR_TYPES
    )
    scalars = tuple(sorted(scalars, key=_scalar_rank))
    times = bool(acquisition["acquisitionParameters"])
    names = [
        *(n for section in acquisition.values() for n in section),
        "title",
        "collection",
        *(n for section in product.values() for n in section),
        *scalars,
    ]
    if times:
        names += [n for n in TIMES if n not in acquisition["acquisitionParameters"]]
    if len(names) != len(set(names)):
        return None
    return Layout(acquisition, product, scalars, times)


def _scalar_rank(name: str) -> int:
    """Common names first, in the order the general path adds them; the rest as they came."""
    return COMMON_KEYS.index(name) if name in COMMON_KEYS else len(COMMON_KEYS)


class PropertySchema:
    """The Arrow type of one search's properties, learned from its products as they come.

    ``type`` is None until learned. Once products turn up that no Arrow type (or no
    :class:`Layout`) fits, or batches keep failing for reasons learning cannot fix (a file
    length of ``1.0``), ``usable`` is False for the rest of the search: each failed batch costs
    its Arrow read on top of the general path.
    """

    SAMPLE = 100
    """Products the schema is first learned from (one catalogue page)."""

    FUTILE = 3
    """Failed batches that taught the schema nothing, after which it is given up."""

    def __init__(self, *, usable: bool = True) -> None:
        self.type: pa.StructType | None = None
        self.layout: Layout | None = None
        self.usable = usable
        self._futile = 0

    def learn(self, raw_properties: Iterable[bytes]) -> None:
        """Widen the schema by these products' properties (raw JSON)."""
        if not self.usable:
            return
        try:
            learned = self.type or pa.struct([])
            for raw in raw_properties:
                value = msgspec.json.decode(raw)
                if not isinstance(value, dict):
                    raise Unlearnable("properties not an object")
                if not all(map(columnable, value)):
                    raise Unlearnable("a key the general path makes no column of")
                learned = merged(learned, learned_type(_without_file_fields(value)))
            learned = _with_file_links(learned)
        except (Unlearnable, msgspec.DecodeError, RecursionError):
            # RecursionError: nested deeper than learning can follow here (the general path,
            # which recurses less, may still read it, or names the product)
            self.usable = False
            return
        if learned == self.type:
            self._futile += 1
            self.usable = self._futile < self.FUTILE
            return
        self.type, self.layout = learned, layout_of(learned)
        self.usable = self.layout is not None

    def current(self) -> tuple[pa.StructType, Layout] | None:
        """The schema and layout to read the next batch with, if any."""
        if self.usable and self.type is not None and self.layout is not None:
            return self.type, self.layout
        return None


@dataclass
class ParsedBatch:
    """What the background thread made of a batch: its text column, and its parsed table when
    the properties were read (None when they were not, or Arrow refused them)."""

    text: pa.StringArray
    table: pa.Table | None


BLOCK_SIZE = 1 << 20
"""Bytes Arrow's reader parses per task: blocks of a batch are parsed on both cores."""


def parse_batch(data: bytes, offsets: np.ndarray, properties: pa.StructType | None) -> ParsedBatch:
    """The background job: the joined texts as a string array, and Arrow's read of them.

    ``data`` holds the JSON objects back to back (Arrow's reader needs no separator between
    them), slices of pages :func:`~terracat.protocols.opensearch.page.decode_page` checked as UTF-8; ``properties``
    is None when they must not be read (a text that is not an object: a bare ``null`` crashes
    Arrow's reader, pyarrow 26).
    """
    buffer = pa.py_buffer(data)
    texts = text_array(buffer, offsets)
    count = len(texts)
    if properties is None or count == 0:
        return ParsedBatch(texts, None)
    table = read_objects(
        buffer, pa.schema(list(properties)), count, unexpected="infer", block_size=BLOCK_SIZE
    )
    return ParsedBatch(texts, table)


def _same_except_links(result: pa.Schema, expected: pa.StructType) -> bool:
    """Whether the reader met no key it was not told of, where the frame would take it.

    New fields of a link, new kinds of links and new fields of an acquisition block outside
    its three sections are left out by the general path too.
    """
    if len(result) != expected.num_fields:
        return False
    for field in expected:
        found = result.field(field.name).type
        if field.name == "links":
            continue
        if field.name == ACQUISITION:
            block = {f.name: f.type for f in found.value_type}
            known = {f.name: f.type for f in field.type.value_type}
            if any(block.get(s) != known.get(s) for s in ACQUISITION_SECTIONS):
                return False
        elif found != field.type:
            return False
    return True


def batch_columns(
    table: pa.Table, properties: pa.StructType, layout: Layout
) -> tuple[dict[str, pa.Array], pa.Table] | None:
    """The batch's columns by name, in the contract's flattening, and its four file lists;
    None when only the general path can flatten it."""
    if not _same_except_links(table.schema, properties):
        return None
    rows = table.num_rows
    columns: dict[str, pa.Array] = {}
    if any(layout.acquisition.values()):
        blocks = one_chunk(table[ACQUISITION])
        flat, owners = pc.list_flatten(blocks), pc.list_parent_indices(blocks)
    for section, names in layout.acquisition.items():
        if not names:
            continue
        values = pc.struct_field(flat, section)
        given = values.is_valid()
        owner = owners.filter(given).to_numpy()
        if len(np.unique(owner)) != len(owner):
            return None  # a product gives the section twice: which wins depends on its keys
        position = np.full(rows, -1, np.int64)
        position[owner] = np.arange(len(owner))
        taken = values.filter(given).take(pa.array(position, mask=position < 0))
        columns.update(zip(names, taken.flatten(), strict=True))
    columns["title"] = (
        one_chunk(table["title"]) if "title" in table.column_names else pa.nulls(rows)
    )
    columns["collection"] = (
        one_chunk(table["parentIdentifier"])
        if "parentIdentifier" in table.column_names
        else pa.nulls(rows)
    )
    for section, names in layout.product.items():
        if names:
            columns.update(zip(names, one_chunk(table[section]).flatten(), strict=True))
    if layout.times:
        for name in TIMES:
            columns.setdefault(name, pa.nulls(rows))
    for name in layout.scalars:
        column = one_chunk(table[name])
        if column.null_count < rows:  # as the general path: only names some product gives
            columns[name] = column
    files = _file_lists(one_chunk(table["links"]))
    if files is None:
        return None
    return columns, files


_EMPTY = pa.scalar([], FILE_LIST)


def _file_lists(links: pa.StructArray) -> pa.Table | None:
    """The four file-list columns, no product's list null; None when an entry is null (the
    lenient path leaves such entries out)."""
    lists = {}
    for kind in FILE_COLUMNS:
        column = pc.struct_field(links, kind)
        if pc.list_flatten(column).null_count:
            return None
        column = column.cast(FILE_LIST)
        lists[kind] = column.fill_null(_EMPTY) if column.null_count else column
    return pa.table(lists)


def joined(texts: Sequence[bytes]) -> tuple[bytes, np.ndarray]:
    """Texts back to back in one buffer, and their offsets in it."""
    offsets = np.zeros(len(texts) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, texts), np.int64, len(texts)), out=offsets[1:])
    return b"".join(texts), offsets
