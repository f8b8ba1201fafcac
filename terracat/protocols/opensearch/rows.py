"""OpenSearch products flattened into the frame's rows by msgspec and Python: the general path.

Every product can be flattened here, whatever its shape; the Arrow path
(:mod:`terracat.protocols.opensearch.arrow_rows`) is faster and reproduces this one exactly where
it applies, and falls back to it otherwise.

A product's ``properties`` are decoded into typed structs, fast, without losing a key.

msgspec decodes into structs several times faster than into dicts, but a struct only keeps the
fields it declares. So the top-level struct forbids unknown fields, and a property name it has
not seen yet makes the decoder learn it (the struct is redefined with one more field) instead of
dropping it: the column contract's "other scalar properties, as they come" holds for every key a
catalogue sends, at the cost of one slow decode per new key in the life of the process.
Sections whose keys are open-ended by nature (acquisition parameters, product information) stay
dicts. The file lists (``links``) stay raw JSON: :mod:`terracat.frame.files` parses them into Arrow
columns off the interpreter's lock. A feature whose sections have the wrong shape is cleaned
(the section dropped) rather than failing the whole search; its original properties are kept
as text in any case.
"""

from __future__ import annotations

import keyword
import threading
from collections.abc import Iterator, Sequence
from itertools import chain
from typing import Any

import msgspec
import pyarrow as pa

from terracat.frame import FileLists, gc_paused

__all__ = [
    "COMMON_KEYS",
    "SECTIONS",
    "Properties",
    "decode_properties",
    "general_rows",
    "learned_keys",
]


class _AcquisitionBlock(msgspec.Struct, gc=False):
    platform: dict[str, Any] | None = None
    instrument: dict[str, Any] | None = None
    acquisitionParameters: dict[str, Any] | None = None


class Properties(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    """The sections the frame flattens; learned scalar keys are added as subclass fields."""

    acquisitionInformation: list[_AcquisitionBlock] = []
    productInformation: dict[str, Any] = {}
    additionalAttributes: dict[str, Any] = {}
    links: msgspec.Raw = msgspec.Raw(b"{}")


SECTIONS = frozenset(Properties.__struct_fields__)
COMMON_KEYS = (
    "title",
    "parentIdentifier",
    "date",
    "published",
    "updated",
    "available",
    "status",
    "identifier",
    "creationDate",
)

_generic = msgspec.json.Decoder()


class _Learner:
    """The current struct type and its decoder; grows by the keys catalogues send."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.keys: tuple[str, ...] = ()
        self._define(COMMON_KEYS)

    def _define(self, keys: tuple[str, ...]) -> None:
        struct = msgspec.defstruct(
            "LearnedProperties",
            [(attribute(key), Any, msgspec.field(default=None, name=key)) for key in keys],
            bases=(Properties,),
            gc=False,
            forbid_unknown_fields=True,
        )
        self.state = (keys, struct, msgspec.json.Decoder(struct))

    def learn(self, keys: list[str]) -> None:
        with self._lock:
            known, _, _ = self.state
            new = tuple(k for k in keys if k not in known and k not in SECTIONS and columnable(k))
            if new:
                self._define(known + new)


def columnable(key: str) -> bool:
    """Whether a property key can be a column of its own: msgspec renames struct fields to any
    name but those with quotes, backslashes or control characters. Such a key stays in the
    ``properties`` text, the product's whole properties, and makes no column on either path."""
    return not ('"' in key or "\\" in key or any(ord(c) < 32 for c in key))


def attribute(key: str) -> str:
    """The struct attribute a property key is decoded into: the key itself when Python allows
    it as an attribute, else a name made from its bytes (msgspec maps it back to the key), so that
    a key such as ``eo:cloud_cover``, ``""`` or ``class`` is a column like any other."""
    if key.isidentifier() and not keyword.iskeyword(key) and not key.startswith("_"):
        return key
    return "_key_" + key.encode("utf-8", "surrogatepass").hex()


_learner = _Learner()


def learned_keys() -> tuple[str, ...]:
    """The scalar property names decoded as struct fields so far."""
    return _learner.state[0]


def decode_properties(raw: bytes) -> Any:
    """One product's properties as a struct with every top-level key as an attribute."""
    _, struct, decoder = _learner.state
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError:
        pass
    generic = _generic.decode(raw)
    if not isinstance(generic, dict):
        raise msgspec.ValidationError(f"properties must be an object, got {type(generic).__name__}")
    known = _learner.state[0]
    unknown = [k for k in generic if k not in known and k not in SECTIONS]
    if unknown:
        _learner.learn(unknown)
        _, struct, decoder = _learner.state
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError:
        cleaned = {k: v for k, v in _cleaned(generic).items() if columnable(k)}
        links = cleaned.pop("links", {})
        properties = msgspec.convert(cleaned, struct, strict=False)
        properties.links = msgspec.Raw(msgspec.json.encode(links))  # parsed leniently later
        return properties


def _cleaned(properties: dict[str, Any]) -> dict[str, Any]:
    """Properties with each ill-shaped section replaced by its empty default."""
    cleaned = dict(properties)
    blocks = cleaned.get("acquisitionInformation")
    cleaned["acquisitionInformation"] = [
        {k: v for k, v in block.items() if isinstance(v, dict)}
        for block in (blocks if isinstance(blocks, list) else [])
        if isinstance(block, dict)
    ]
    for section in ("productInformation", "additionalAttributes"):
        if not isinstance(cleaned.get(section), dict):
            cleaned[section] = {}
    return cleaned


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
        name = attribute(key)
        values = [getattr(properties, name, None) for properties in decoded]
        if values.count(None) == len(values):
            continue
        scalars = [value if type(value) in _SCALARS else None for value in values]
        if scalars.count(None) != len(scalars):
            yield key, scalars


def general_rows(raw_properties: Sequence[bytes]) -> tuple[dict[str, Sequence[Any]], pa.Table]:
    """Products flattened by msgspec and Python, whatever their shape: the path for batches
    Arrow's reader refuses or cannot flatten exactly."""
    with gc_paused():
        decoded = [decode_properties(raw) for raw in raw_properties]
        files = FileLists([p.links for p in decoded])  # parsed while the rows are flattened
        rows = [_flatten(properties) for properties in decoded]
        values = _page_values(rows, decoded)
    return values, files.table()


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
