"""Decoding a product's ``properties`` into typed structs, fast, without losing a key.

msgspec decodes into structs several times faster than into dicts, but a struct only keeps the
fields it declares. So the top-level struct forbids unknown fields, and a property name it has
not seen yet makes the decoder learn it (the struct is redefined with one more field) instead of
dropping it: the column contract's "other scalar properties, as they come" holds for every key a
catalogue sends, at the cost of one slow decode per new key in the life of the process.
Sections whose keys are open-ended by nature (acquisition parameters, product information) stay
dicts. The file lists (``links``) stay raw JSON: :mod:`terracat._files` parses them into Arrow
columns off the interpreter's lock. A feature whose sections have the wrong shape is cleaned
(the section dropped) rather than failing the whole search; its original properties are kept
as text in any case.
"""

from __future__ import annotations

import threading
from typing import Any

import msgspec

__all__ = ["Properties", "decode_properties", "learned_keys"]


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
            [(key, Any, None) for key in keys],
            bases=(Properties,),
            gc=False,
            forbid_unknown_fields=True,
        )
        self.state = (keys, struct, msgspec.json.Decoder(struct))

    def learn(self, keys: list[str]) -> None:
        with self._lock:
            known, _, _ = self.state
            new = tuple(k for k in keys if k not in known and k not in SECTIONS)
            if new:
                self._define(known + new)


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
    unknown = [k for k in generic if k not in struct.__struct_fields__]
    if unknown:
        _learner.learn(unknown)
        _, struct, decoder = _learner.state
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError:
        cleaned = _cleaned(generic)
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
