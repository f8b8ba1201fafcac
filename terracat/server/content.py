"""Deterministic, verifiable bytes for the files the local catalogue serves.

A file's content is a PCG64 stream seeded by its path (and its revision, once the catalogue has
reprocessed it): any byte range can be produced without the bytes before it (``advance`` jumps
the generator), at memory speed, identically on every machine. A test or benchmark that
downloaded a file checks it with :func:`read` over the whole length; a resume that stitched
ranges at the wrong offset, or of two revisions, cannot pass, since no two 8-byte words of a file
or of its revisions repeat in practice.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import numpy as np

__all__ = ["materialise", "read"]

_WORD = 8
_CHECKED = 64  # bytes compared to tell a materialised file's revision (all of a small file)


def _seed(path: str, revision: int) -> int:
    # revision 0 is seeded by the path alone: the bytes every file had before revisions existed
    key = path if revision == 0 else f"{path}\0{revision}"
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=16).digest(), "little")


def read(path: str, start: int, stop: int, revision: int = 0) -> bytes:
    """Return bytes ``[start, stop)`` of revision ``revision`` of the file served at ``path``.

    Examples
    --------
    >>> read("/download/a.tif", 0, 16)[8:] == read("/download/a.tif", 8, 16)
    True
    >>> read("/download/a.tif", 0, 16) != read("/download/a.tif", 0, 16, revision=1)
    True
    """
    if stop <= start:
        return b""
    first_word, skip = divmod(start, _WORD)
    words = -(-(stop - first_word * _WORD) // _WORD)
    generator = np.random.PCG64(_seed(path, revision))
    if first_word:
        generator.advance(first_word)
    raw = generator.random_raw(words).astype("<u8", copy=False).tobytes()
    return raw[skip : skip + (stop - start)]


def _is_current(target: Path, path: str, length: int, revision: int) -> bool:
    """Whether ``target`` holds this revision: its size, and its first bytes (which differ
    between revisions, so that a same-length reprocessed file is not taken for the old one)."""
    try:
        if target.stat().st_size != length:
            return False
        with open(target, "rb") as existing:
            head = existing.read(_CHECKED)
    except OSError:
        return False
    return head == read(path, 0, min(length, _CHECKED), revision)


def materialise(
    path: str, length: int, target: Path, chunk: int = 4 * 1024 * 1024, *, revision: int = 0
) -> Path:
    """Write the file served at ``path`` to ``target`` unless this revision is already there.

    Written to a temporary name and renamed, so a concurrent reader never sees half a file.
    """
    if _is_current(target, path, length, revision):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    with open(partial, "wb") as out:
        for offset in range(0, length, chunk):
            out.write(read(path, offset, min(length, offset + chunk), revision))
    partial.replace(target)
    return target
