"""Where a download writes: the file tasks of product rows, their safe paths and partial names.

Names derived from ids and hrefs are checked to stay inside the target directory; one that cannot
be used becomes a task with a ``problem``, which fails its own row only. A file is written under a
partial name beside its final one, kept within the filesystem's ``NAME_MAX`` (shortened and
hashed when the name is long), and renamed only once complete. Nothing here does I/O beyond
asking the filesystem for its limits and resolving paths.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from terracat import _defaults
from terracat.exceptions import ProductDownloadException
from terracat.transfer.checksum import asset_checksums

__all__ = [
    "FILE_KINDS",
    "PARTIAL_SUFFIX",
    "FileTask",
    "check_name_fits",
    "file_tasks",
    "partial_path",
    "product_directory",
    "public_href",
]

FILE_KINDS = ("data", "related", "previews", "alternates")
PARTIAL_SUFFIX = ".terracat-partial"
PARTIAL_DIGEST_CHARS = 16  # of a long name's sha256: tells shortened names apart


@dataclass(frozen=True)
class FileTask:
    """One file to fetch: where from, where to, and the size the catalogue announced.

    ``problem`` says why the file cannot be fetched at all (an id or a file name that cannot be
    made a safe path): such a task is reported as a failed row without touching the disk, so one
    bad product does not stop a batch. ``checksum`` is the asset's ``file:checksum`` (a hex
    multihash) where the catalogue gives one: the bytes written are verified against it.
    """

    product: str
    kind: str
    href: str
    length: int | None
    target: Path
    problem: str | None = None
    checksum: str | None = None


def _safe_name(name: str, what: str) -> str:
    """``name`` if it is one harmless path component, else a ProductDownloadException."""
    decoded = unquote(name)
    bad = (
        not name
        or name in (".", "..")
        or decoded in (".", "..")
        or any(sep in decoded for sep in ("/", "\\", "\x00"))
        or any(ord(c) < 32 for c in decoded)
        or os.path.isabs(name)
    )
    if bad:
        raise ProductDownloadException(
            f"{what} {name!r} cannot be used as a file or directory name: it could write outside "
            "the target directory"
        )
    return name


def product_directory(product_id: str) -> str:
    """The directory name of a product: its id after the last ``:``, as the reference lays out."""
    return _safe_name(product_id.rsplit(":", 1)[-1], "product id")


def _file_name(href: str) -> str:
    path = urlsplit(href).path if "://" in href else href
    segments = path.rstrip("/").split("/")
    name = segments[-1]
    if name == ODATA_VALUE and len(segments) > 1:
        name = _odata_key(segments[-2])
    return _safe_name(name, "file name in href")


ODATA_VALUE = "$value"
"""The last segment of an OData media URL (the Data Space's ``.../Nodes(B02.jp2)/$value``):
the file is named by the entity before it, or every file of a product would be ``$value``."""


def _odata_key(segment: str) -> str:
    """``Nodes(T31UFS_B02.jp2)`` -> ``T31UFS_B02.jp2``; ``Products('id')`` -> ``id``."""
    text = unquote(segment)
    entity, opened, key = text.partition("(")
    if not (opened and entity and key.endswith(")")):
        return text
    return key[:-1].strip("'")


def _inside(root: Path, target: Path) -> Path:
    resolved_root = root.resolve()
    resolved = target.resolve()
    if not resolved.is_relative_to(resolved_root):
        raise ProductDownloadException(f"{target} resolves outside the target directory {root}")
    return target


def _target(root: Path, product: str, href: str, flat: bool) -> Path:
    directory = root if flat else root / product_directory(product)
    return _inside(root, directory / _file_name(href))


def file_tasks(
    rows: Iterable[
        tuple[str, dict[str, Sequence[dict[str, Any]]]]
        | tuple[str, dict[str, Sequence[dict[str, Any]]], Any]
    ],
    root: Path,
    kinds: Sequence[str],
    *,
    flat: bool = False,
) -> list[FileTask]:
    """The files of ``(product id, {kind: links})`` rows, laid out as ``root/<product>/<file>``.

    ``flat`` puts files straight into ``root`` (the reference's ``download_file``). A file whose
    product id or name cannot be made a safe path becomes a task with a ``problem`` (its target
    is ``root``): the downloader reports it as failed and fetches the others. A row may carry
    a third element, its ``properties`` (a STAC item as text): an asset's ``file:checksum``
    there, found by the file entry's ``category`` (the asset key), goes into its task.
    """
    tasks = []
    seen: set[object] = set()  # a file listed twice (a repeated row) is fetched once
    named: dict[Path, str] = {}  # the href each target was given to
    for product, links, *properties in rows:
        checksums = asset_checksums(properties[0]) if properties else {}
        for kind in kinds:
            for link in links.get(kind) or ():
                href = link.get("href")
                if not href:
                    continue
                try:
                    target, problem = _target(root, product, href, flat), None
                except ProductDownloadException as error:
                    target, problem = root, str(error)
                if problem is None and target in named:
                    if _same_file(named[target], href):
                        continue
                    problem = (
                        f"another file of product {product} is named {target.name} too "
                        f"({named[target]}): this one is not fetched, so that neither overwrites "
                        "the other"
                    )
                    target = root
                key = (product, href)
                if key in seen:
                    continue
                seen.add(key)
                named.setdefault(target, href)
                length = link.get("length")
                tasks.append(
                    FileTask(
                        product,
                        kind,
                        href,
                        int(length) if length is not None else None,
                        target,
                        problem,
                        checksums.get(link.get("category") or ""),
                    )
                )
    return tasks


def _same_file(href: str, other: str) -> bool:
    """Whether two hrefs name one file: the same place, whatever their query (a signed URL
    signed twice, in a repeated row, is one file)."""
    first, second = urlsplit(href), urlsplit(other)
    return (first.scheme, first.netloc, first.path) == (second.scheme, second.netloc, second.path)


def _name_max(directory: Path) -> int:
    """The longest file name (in bytes) ``directory``'s filesystem takes."""
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no such directory yet, or no pathconf
        return _defaults.FILE_NAME_MAX


def partial_path(target: Path, suffix: str = PARTIAL_SUFFIX) -> Path:
    """The partial name of ``target``: ``<name><suffix>``, shortened to fit the filesystem.

    A name too long for the suffix keeps its head (cut on a character boundary) and gains a
    hash of the whole name, so two long names sharing a head still get distinct partial files
    and the name still ends in ``suffix``.
    """
    name = target.name + suffix
    limit = _name_max(target.parent)
    if len(os.fsencode(name)) <= limit:
        return target.with_name(name)
    encoded = os.fsencode(target.name)
    digest = hashlib.sha256(encoded).hexdigest()[:PARTIAL_DIGEST_CHARS]
    room = max(limit - len(suffix) - len(digest) - 1, 0)
    head = encoded[:room].decode("utf-8", "ignore")  # never half a character
    while len(os.fsencode(head)) > room:  # names that are not UTF-8 (surrogate escapes)
        head = head[:-1]
    return target.with_name(f"{head}-{digest}{suffix}")


def check_name_fits(target: Path) -> None:
    """Refuse a final name the filesystem cannot hold before any byte is fetched for it."""
    if len(os.fsencode(target.name)) > _name_max(target.parent):
        raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), str(target))


def public_href(href: str) -> str:
    """An href fit for a log line or a message: its query string (presigned secrets) dropped."""
    parts = urlsplit(href)
    return parts._replace(query="", fragment="").geturl() if parts.query else href
