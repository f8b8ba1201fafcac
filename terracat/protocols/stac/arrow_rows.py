"""STAC items parsed by Arrow's JSON reader straight into the frame's columns, off the lock.

The general path (:mod:`terracat.protocols.stac.rows`) makes Python objects of every item's
properties and assets. Here a batch of whole items, joined into the very buffer the
``properties`` text column is made of, goes to Arrow's JSON reader in the background thread with
a *narrow* schema learned from the search's first items (:class:`ItemSchema`): the id, the
collection, the scalar properties, and of each asset only what a file entry reads. Everything
else of an item (links, raster metadata, bands: most of its bytes) Arrow skips without building.

Skipping is where products could vanish silently: a scalar property or an asset the schema does
not name would be left out of the frame without a word. So the calling thread checks each item's
*key sets* against the schema first (:meth:`ItemSchema.fits`, msgspec, which makes no object of
the values), and Arrow's reader is strict about the types it was told (a float where ``int64``
was learned, a list where text was, fail the read). A batch that does not fit either way goes
the general path, which then teaches the schema what it lacked, for the batches after it. So the
fast path gives exactly the general path's frame, and odd items cost time, never values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from terracat.frame.contract import Unlearnable, merged
from terracat.frame.files import FILE, FILE_COLUMNS, INT64_MAX, INT64_MIN
from terracat.frame.jsonlines import read_objects, texts_joined
from terracat.protocols.stac.rows import _RESERVED, ALIASES, file_kind, tile_id

__all__ = ["ItemSchema", "ParsedBatch", "batch_columns", "parse_batch"]

_ALTERNATE = pa.struct([("href", pa.string())])
ASSET = pa.struct(
    [
        ("href", pa.string()),
        ("title", pa.string()),
        ("type", pa.string()),
        ("roles", pa.list_(pa.string())),
        ("file:size", pa.int64()),
    ]
)
"""What a file entry reads of an asset, typed as the general path's ``_Asset`` wants it."""


def asset_type(alternates: tuple[str, ...]) -> pa.DataType:
    """An asset as read where file entries take the hrefs of its ``alternates`` (the names of
    :func:`~terracat.protocols.stac.rows.alternate_names`): those alternates' hrefs too, and no
    others. Left out where none is asked: building them costs a tenth of the read (5 of 45 µs
    an item, the real 2026 item), and the general path reads them only when asked (an ill-typed
    ``alternate`` it cleans away, leaving the rest)."""
    if not alternates:
        return ASSET
    return pa.struct(
        [*ASSET, ("alternate", pa.struct([(name, _ALTERNATE) for name in alternates]))]
    )


TIMES = ("beginningDateTime", "endingDateTime")
_UNCOLUMNABLE = frozenset((*_RESERVED, *TIMES, *ALIASES))
"""Property names whose column the general path fills by rules of key presence (a reserved name
stays in the text, an alias keeps a property's value where the STAC field is missing): items
with such properties always take the general path."""

_SCALAR_TYPES = {str: pa.string(), int: pa.int64(), float: pa.float64(), bool: pa.bool_()}
_NON_SCALAR = "non-scalar"
_generic = msgspec.json.Decoder()


def _learned(value: Any) -> pa.DataType | str:
    """A property value's learned kind: an Arrow scalar type, null, or non-scalar."""
    if value is None:
        return pa.null()
    kind = _SCALAR_TYPES.get(type(value))
    if kind is None:
        return _NON_SCALAR
    if kind == pa.int64() and not INT64_MIN <= value <= INT64_MAX:
        raise Unlearnable(f"{value} does not fit 64 bits")
    return kind


def _merged(a: pa.DataType | str, b: pa.DataType | str) -> pa.DataType | str:
    if a == b or b == pa.null():
        return a
    if a == pa.null():
        return b
    if _NON_SCALAR in (a, b):
        raise Unlearnable("a property both scalar and not")
    return merged(a, b)  # type: ignore[arg-type]


class ItemSchema:
    """The narrow Arrow schema of one search's items, learned from them as they come.

    ``usable`` is False once items turn up that no narrow schema fits (a property both text and
    number, a property named like a frame column) or batches keep failing for reasons learning
    cannot fix: each failed batch costs its Arrow read on top of the general path.
    """

    SAMPLE = 100
    """Items the schema is first learned from (a catalogue page)."""

    FUTILE = 3
    """Failed batches that taught the schema nothing, after which it is given up."""

    def __init__(self, *, usable: bool = True, alternates: tuple[str, ...] = ()) -> None:
        self.usable = usable
        self.asset = asset_type(alternates)  # the alternates' hrefs read, where any are asked
        self.properties: dict[str, pa.DataType | str] = {}
        self.assets: dict[str, None] = {}  # asset keys, in the order first seen
        self.type: pa.Schema | None = None
        self._shape: msgspec.json.Decoder | None = None
        self._orders: set[tuple[str, ...]] = set()
        self._futile = 0

    def learn(self, items: Iterable[bytes]) -> None:
        """Widen the schema by these items (raw JSON objects)."""
        if not self.usable:
            return
        properties, assets = dict(self.properties), dict(self.assets)
        try:
            for raw in items:
                item = _generic.decode(raw)
                if not isinstance(item, dict) or type(item.get("id")) is not str:
                    raise Unlearnable("an item without a text id")
                if not isinstance(item.get("collection"), str | None):
                    raise Unlearnable("a collection that is not text")
                values = item.get("properties")
                values = {} if values is None else values
                found = item.get("assets")
                found = {} if found is None else found
                if not isinstance(values, dict) or not isinstance(found, dict):
                    raise Unlearnable("properties or assets that are not objects")
                for key, value in values.items():
                    if key in _UNCOLUMNABLE:
                        raise Unlearnable(f"a property named {key!r}")
                    properties[key] = _merged(properties.get(key, pa.null()), _learned(value))
                if key_order(found, assets) is None:
                    assets.update(dict.fromkeys(found))
                    if key_order(found, assets) is None:
                        raise Unlearnable("assets in an order no other item has")
        except (Unlearnable, msgspec.DecodeError, RecursionError):
            self.usable = False
            return
        if properties == self.properties and assets == self.assets:
            self._futile += 1
            self.usable = self._futile < self.FUTILE
            return
        self.properties, self.assets = properties, assets
        self._build()

    def _build(self) -> None:
        scalars = [(k, t) for k, t in self.properties.items() if t != _NON_SCALAR]
        self.type = pa.schema(
            [
                ("id", pa.string()),
                ("collection", pa.string()),
                ("properties", pa.struct(scalars)),
                ("assets", pa.struct([(key, self.asset) for key in self.assets])),
            ]
        )
        # The shape check: unknown property keys refused by msgspec, learned non-scalar ones
        # that turn scalar refused by their type; assets read as keys only (their order).
        fields = [
            (
                f"p{number}",
                msgspec.Raw
                if kind != _NON_SCALAR
                else list[msgspec.Raw] | dict[str, msgspec.Raw] | None,
                msgspec.field(name=key, default=None),
            )
            for number, (key, kind) in enumerate(self.properties.items())
        ]
        properties = msgspec.defstruct("Properties", fields, forbid_unknown_fields=True, gc=False)
        shape = msgspec.defstruct(
            "Shape",
            [
                ("properties", properties | None, None),
                ("assets", dict[str, msgspec.Raw] | None, None),
            ],
            gc=False,
        )
        self._shape = msgspec.json.Decoder(shape)
        self._orders = set()

    def current(self) -> pa.Schema | None:
        """The schema to read the next batch with, if any."""
        return self.type if self.usable else None

    def fits(self, items: Sequence[bytes]) -> bool:
        """Whether Arrow's read with this schema would leave nothing of these items out that
        the frame takes: no property or asset key it does not know, assets in its order."""
        shape, orders = self._shape, self._orders
        if shape is None:
            return False
        try:
            for raw in items:
                assets = shape.decode(raw).assets
                order = () if assets is None else tuple(assets)
                if order not in orders:
                    if key_order(order, self.assets) is None:
                        return False
                    orders.add(order)
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
            return False
        return True


def key_order(keys: Iterable[str], known: dict[str, None]) -> list[int] | None:
    """The positions of ``keys`` among ``known``, or None unless all are known, in that order."""
    positions = list(known)
    index = {key: number for number, key in enumerate(positions)}
    found = [index.get(key, -1) for key in keys]
    if -1 in found or any(b <= a for a, b in pairwise(found)):
        return None
    return found


@dataclass
class ParsedBatch:
    """What the background thread made of a batch: its text column, and Arrow's table of it
    (None when it was not read, or Arrow refused it)."""

    text: pa.Array
    table: pa.Table | None


def parse_batch(views: pa.Array, schema: pa.Schema | None) -> ParsedBatch:
    """The background job: the items (a ``string_view`` array over them,
    :func:`~terracat.frame.jsonlines.text_views`) joined into a string array, and Arrow's
    narrow read of them (``schema`` None: not to be read).

    Joined here, by Arrow, not by the caller: Arrow lets go of the interpreter lock while it
    copies, so the copy of a batch's items costs the calling thread nothing. Read as one block
    in this thread, not in blocks on both cores: the calling thread keeps the other core busy
    decoding pages, Arrow's blocks cost more CPU per item (measured: 68 against 48 µs; finding
    where a block's objects end takes a parse of its own), and they give a table in chunks
    that would be copied again into one.
    """
    texts = texts_joined(views)
    count = len(texts)
    if schema is None or count == 0:
        return ParsedBatch(texts, None)
    _, offsets, buffer = texts.buffers()
    width = np.int32 if texts.type == pa.string() else np.int64
    start, end = np.frombuffer(offsets, width)[[texts.offset, texts.offset + count]]
    data = buffer.slice(start, end - start)
    table = read_objects(
        data, schema, count, unexpected="ignore", block_size=len(data) + 1, threads=False
    )
    return ParsedBatch(texts, table)


def _one(column: pa.ChunkedArray) -> pa.Array:
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def batch_columns(
    table: pa.Table, alternates: tuple[str, ...] = ()
) -> tuple[dict[str, pa.Array], pa.Table] | None:
    """The batch's columns by name, as the general path makes them, and its four file lists
    (hrefs of the first of ``alternates`` an asset has, else its own); None when only the
    general path can make them."""
    rows = table.num_rows
    ids = _one(table["id"])
    properties = _one(table["properties"])
    given = {field.name: properties.field(field.name) for field in properties.type}
    title = _text_or_null(given.get("title"), rows)
    columns: dict[str, pa.Array] = {
        "title": pc.coalesce(title, ids),
        "collection": _one(table["collection"]),
    }
    for name, column in given.items():
        if name != "title" and column.null_count < rows:  # only names some item gives
            columns[name] = column
    instant = _text_or_null(given.get("datetime"), rows)
    for name, source in zip(TIMES, ("start_datetime", "end_datetime"), strict=True):
        first = _text_or_null(given.get(source), rows)
        first = pc.if_else(pc.equal(first, ""), pa.nulls(rows, pa.string()), first)
        columns[name] = pc.coalesce(first, instant)
    aliases = _aliases(given, rows)
    if aliases is None:
        return None
    columns.update(aliases)
    files = _file_lists(_one(table["assets"]), alternates, rows)
    if files is None:
        return None
    return columns, files


def _text_or_null(column: pa.Array | None, rows: int) -> pa.Array:
    if column is None or column.type != pa.string():
        return pa.nulls(rows, pa.string())
    return column


def _mapped(column: pa.Array, function: Any) -> pa.Array:
    """A Python function of text applied once per distinct value (a catalogue has few)."""
    encoded = column.dictionary_encode()
    values = [function(value) for value in encoded.dictionary.to_pylist()]
    return pa.array(values, pa.string()).take(encoded.indices)


def _aliases(given: dict[str, pa.Array], rows: int) -> dict[str, pa.Array] | None:
    """The OpenSearch names (:data:`~terracat.protocols.stac.rows.ALIASES`), as the general
    path derives them."""
    columns: dict[str, pa.Array] = {}
    cover = given.get("eo:cloud_cover")
    columns["cloudCover"] = (
        cover.cast(pa.float64())
        if cover is not None and cover.type in (pa.int64(), pa.float64())
        else pa.nulls(rows, pa.float64())
    )
    tiles = _tile_ids(given, rows)
    if tiles is None:
        return None
    columns["tileId"] = tiles
    orbit = given.get("sat:relative_orbit")
    if orbit is not None and orbit.type == pa.float64():
        whole = pc.and_(pc.is_finite(orbit), pc.equal(pc.floor(orbit), orbit))
        if pc.any(pc.greater_equal(pc.abs(orbit.filter(whole)), 2.0**63)).as_py():
            return None  # a whole number beyond int64: the general path keeps it as it is
        orbit = pc.if_else(whole, orbit, pa.nulls(rows, pa.float64())).cast(pa.int64())
    columns["relativeOrbitNumber"] = (
        orbit if orbit is not None and orbit.type == pa.int64() else pa.nulls(rows, pa.int64())
    )
    state = given.get("sat:orbit_state")
    columns["orbitDirection"] = (
        _mapped(state, str.upper)
        if state is not None and state.type == pa.string()
        else pa.nulls(rows, pa.string())
    )
    columns["productType"] = _text_or_null(given.get("product:type"), rows)
    return columns


_TILE_FIELDS = (
    "grid:code",
    "mgrs:utm_zone",
    "mgrs:latitude_band",
    "mgrs:grid_square",
    "s2:mgrs_tile",
)


def _tile_ids(given: dict[str, pa.Array], rows: int) -> pa.Array | None:
    """``tileId`` by :func:`~terracat.protocols.stac.rows.tile_id`: from ``grid:code`` once per
    distinct code, from the other fields (in Python) only for items whose code gives none."""
    code = given.get("grid:code")
    if code is not None and code.type == pa.string():
        tiles = _mapped(code, lambda value: tile_id({"grid:code": value}))
    else:
        tiles = pa.nulls(rows, pa.string())
    others = {name: given[name] for name in _TILE_FIELDS[1:] if name in given}
    if not others or tiles.null_count == 0:
        return tiles
    if others.get("mgrs:utm_zone", pa.nulls(0)).type == pa.float64():
        return None  # whole zones read as floats: only the general path sees which were ints
    missing = np.flatnonzero(np.asarray(tiles.is_null()))
    picked = pa.array(missing)
    values = zip(*(column.take(picked).to_pylist() for column in others.values()), strict=True)
    found = [tile_id(dict(zip(others, value, strict=True))) for value in values]
    filled = np.array(tiles.to_pylist(), dtype=object)
    filled[missing] = found
    return pa.array(filled.tolist(), pa.string())


def _file_lists(assets: pa.StructArray, alternates: tuple[str, ...], rows: int) -> pa.Table | None:
    """The four file lists of the batch: each asset an entry of the list its roles pick, in
    the item's order of assets (the schema's, checked)."""
    keys = [field.name for field in assets.type]
    if not keys:
        empty = pa.ListArray.from_arrays(pa.array(np.zeros(rows + 1, np.int32)), pa.nulls(0, FILE))
        return pa.table({kind: empty for kind in FILE_COLUMNS})
    # Each leaf of all assets, asset-major: asset a of item i at a * rows + i.
    per_asset = [pc.struct_field(assets, [key]) for key in keys]
    leaves: dict[str, list[pa.Array]] = {
        name: [] for name in ("href", "file:size", "title", "type")
    }
    kinds, present = [], []
    for asset in per_asset:
        kind = _kinds(pc.struct_field(asset, ["roles"]))
        if kind is None:
            return None
        kinds.append(kind)
        present.append(np.asarray(asset.is_valid()))
        for name, values in leaves.items():
            values.append(pc.struct_field(asset, [name]))
        if alternates:
            leaves["href"][-1] = _alternate_href(asset, leaves["href"][-1], alternates)
    flat = {name: pa.concat_arrays(values) for name, values in leaves.items()}
    kind_of = np.concatenate(kinds)
    given = np.concatenate(present)
    names = pa.array(keys, pa.string())
    lists = {}
    for number, kind in enumerate(FILE_COLUMNS):
        chosen = np.flatnonzero(given & (kind_of == number))
        asset_number, owner = np.divmod(chosen, rows)
        order = np.lexsort((asset_number, owner))  # by item, then by asset
        taken = pa.array(chosen[order])
        categories = names.take(pa.array(asset_number[order]))
        file = pa.StructArray.from_arrays(
            [
                flat["href"].take(taken),
                flat["file:size"].take(taken),
                pc.coalesce(flat["title"].take(taken), categories),
                flat["type"].take(taken),
                categories,
            ],
            fields=list(FILE),
        )
        offsets = np.zeros(rows + 1, np.int32)
        np.cumsum(np.bincount(owner, minlength=rows), out=offsets[1:])
        lists[kind] = pa.ListArray.from_arrays(pa.array(offsets), file, type=pa.list_(FILE))
    return pa.table(lists)


def _alternate_href(asset: pa.StructArray, href: pa.Array, alternates: tuple[str, ...]) -> pa.Array:
    """The href of the first of ``alternates`` the asset has (``alternate.local``, else
    ``alternate.MEP``, for MEP), as a ``file://`` URL when it is a bare path, else its href."""
    other = pc.coalesce(
        *(pc.struct_field(asset, ["alternate", name, "href"]) for name in alternates)
    )
    other = pc.if_else(
        pc.starts_with(other, "/"), pc.binary_join_element_wise("file://", other, ""), other
    )
    return pc.coalesce(other, href)


def _kinds(roles: pa.ListArray) -> np.ndarray | None:
    """Each entry's file list by :func:`~terracat.protocols.stac.rows.file_kind`, as the
    number of its name in ``FILE_COLUMNS``, decided once per distinct list of roles; None
    when a role is null (the general path leaves such roles out)."""
    flat = pc.list_flatten(roles)
    if flat.null_count or (len(flat) and pc.any(pc.match_substring(flat, "\x00")).as_py()):
        return None
    lengths = pc.cast(pc.list_value_length(roles), pa.string())
    key = pc.binary_join_element_wise(lengths, pc.binary_join(roles, "\x00"), ":")
    encoded = key.dictionary_encode()
    numbers = []
    for text in encoded.dictionary.to_pylist():
        length, _, joined = text.partition(":")
        listed = joined.split("\x00") if int(length) else []
        numbers.append(FILE_COLUMNS.index(file_kind(listed)))
    known = np.asarray([*numbers, FILE_COLUMNS.index("data")], np.int64)  # last: no roles
    indices = encoded.indices.fill_null(len(numbers)).to_numpy(zero_copy_only=False)
    return known[indices]
