"""Deterministic, verifiable bytes for the files the local catalogue serves.

A file's content is a PCG64 stream seeded by its path: any byte range can be produced without
the bytes before it (``advance`` jumps the generator), at memory speed, identically on every
machine. A test or benchmark that downloaded a file checks it with :func:`read` over the whole
length; a resume that stitched ranges at the wrong offset cannot pass, since no two 8-byte words
of a file repeat in practice.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import numpy as np

__all__ = ["materialise", "read"]

_WORD = 8


def _seed(path: str) -> int:
    return int.from_bytes(hashlib.blake2b(path.encode(), digest_size=16).digest(), "little")


def read(path: str, start: int, stop: int) -> bytes:
    """Return bytes ``[start, stop)`` of the file served at ``path``.

    Examples
    --------
    >>> read("/download/a.tif", 0, 16)[8:] == read("/download/a.tif", 8, 16)
    True
    """
    if stop <= start:
        return b""
    first_word, skip = divmod(start, _WORD)
    words = -(-(stop - first_word * _WORD) // _WORD)
    generator = np.random.PCG64(_seed(path))
    if first_word:
        generator.advance(first_word)
    raw = generator.random_raw(words).astype("<u8", copy=False).tobytes()
    return raw[skip : skip + (stop - start)]


def materialise(path: str, length: int, target: Path, chunk: int = 4 * 1024 * 1024) -> Path:
    """Write the file served at ``path`` to ``target`` unless a complete copy is already there.

    Written to a temporary name and renamed, so a concurrent reader never sees half a file.
    """
    if target.exists() and target.stat().st_size == length:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    with open(partial, "wb") as out:
        for offset in range(0, length, chunk):
            out.write(read(path, offset, min(length, offset + chunk)))
    partial.replace(target)
    return target
