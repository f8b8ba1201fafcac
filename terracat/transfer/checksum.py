"""The STAC file extension's ``file:checksum``: a multihash, parsed once, checked while writing.

A multihash in hex is a varint hash-function code, a varint digest length and the digest
(``1220`` + a sha2-256 hex digest). The functions ``hashlib`` has are checked; a code it has
not is reported as unknown (the file then downloads unverified, with one warning per batch).
Parsing is pure: nothing here reads a file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "HASH_FUNCTIONS",
    "Checksum",
    "asset_checksums",
    "multihash",
    "parse_multihash",
]

HASH_FUNCTIONS: dict[int, tuple[str, Callable[[], Any]]] = {
    0x11: ("sha1", hashlib.sha1),
    0x12: ("sha2-256", hashlib.sha256),
    0x13: ("sha2-512", hashlib.sha512),
    0xD5: ("md5", hashlib.md5),
    0xB220: ("blake2b-256", lambda: hashlib.blake2b(digest_size=32)),
}
"""Multicodec code -> (its name, a new ``hashlib`` object): the functions terracat verifies."""

_CODES = {name: code for code, (name, _) in HASH_FUNCTIONS.items()}


@dataclass(frozen=True)
class Checksum:
    """An expected digest: the multihash text as given, its function code and hex digest."""

    text: str
    code: int
    digest: str

    @property
    def known(self) -> bool:
        """Whether terracat can compute this function (else the file is not verified)."""
        return self.code in HASH_FUNCTIONS

    @property
    def name(self) -> str:
        """The function's multicodec name, or its code in hex when terracat does not know it."""
        return HASH_FUNCTIONS[self.code][0] if self.known else f"0x{self.code:x}"

    def new_hash(self) -> Any:
        """A fresh ``hashlib`` object for this function (only for a known one)."""
        return HASH_FUNCTIONS[self.code][1]()


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """The unsigned LEB128 varint at ``data[at:]`` and the index after it."""
    value = shift = 0
    for index in range(at, min(len(data), at + 9)):
        value |= (data[index] & 0x7F) << shift
        if not data[index] & 0x80:
            return value, index + 1
        shift += 7
    raise ValueError("a varint that does not end")


def parse_multihash(text: str) -> Checksum:
    """``'1220<64 hex>'`` -> ``Checksum(code=0x12, digest=...)``; ValueError for malformed text.

    The digest must be as long as its length varint says; the code need not be one terracat
    knows (:attr:`Checksum.known` says whether it is).
    """
    if not isinstance(text, str):
        raise ValueError(f"a multihash is hex text, got {type(text).__name__}")
    try:
        data = bytes.fromhex(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not hex") from None
    code, at = _varint(data, 0)
    length, at = _varint(data, at)
    digest = data[at:]
    if len(digest) != length or not length:
        raise ValueError(f"{text!r} declares a {length}-byte digest and holds {len(digest)} bytes")
    return Checksum(text.strip().lower(), code, digest.hex())


def multihash(name: str, data: bytes) -> str:
    """The hex multihash of ``data`` under the function ``name`` (``'sha2-256'``, ...)."""
    code = _CODES[name]
    hashed = HASH_FUNCTIONS[code][1]()
    hashed.update(data)
    digest = hashed.digest()
    return (_encode_varint(code) + _encode_varint(len(digest)) + digest).hex()


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def asset_checksums(properties: Any) -> dict[str, str]:
    """``{asset key: file:checksum}`` of a STAC item held as text (a frame's ``properties``).

    Anything that is not a STAC item with such assets (an OpenSearch row's properties, broken
    JSON) gives an empty mapping: only a catalogue's own checksum is ever checked. The text is
    parsed only when it mentions ``file:checksum``.
    """
    if isinstance(properties, bytes | str):
        if "file:checksum" not in (
            properties if isinstance(properties, str) else properties.decode("utf-8", "replace")
        ):
            return {}
        try:
            properties = orjson.loads(properties)
        except orjson.JSONDecodeError:
            return {}
    if not isinstance(properties, dict):
        return {}
    assets = properties.get("assets")
    if not isinstance(assets, dict):
        return {}
    return {
        key: asset["file:checksum"]
        for key, asset in assets.items()
        if isinstance(asset, dict) and isinstance(asset.get("file:checksum"), str)
    }
