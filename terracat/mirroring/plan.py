"""What one product needs in a sync run: pure decisions over the manifest's record and the catalogue's.

A product is unchanged when its record is complete and the catalogue still gives the same
``updated`` and the same files: such a product costs nothing, however often a window overlap
shows it. Otherwise its files are fetched, and the files of the old version that cannot be shown
to be the same bytes are taken away first (removed, or kept aside), so that a file found complete
on disk later is always of the version being fetched: a run killed at any point resumes from the
disk without mixing versions.

A file is shown to be the same when it keeps its path, its length and either the product's
``updated`` or a checksum equal on both sides (its href may change: signed or moved); without a checksum, a reprocessed product's files
are all fetched again (OpenSearch gives none; a STAC ``file:checksum`` saves the unchanged ones).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["COMPLETE", "FAILED", "GONE", "PENDING", "Plan", "Record", "SyncedFile", "plan_product"]

COMPLETE = "complete"  # every file on disk, of the version recorded
PENDING = "pending"  # its files are being fetched (a run stopped before they all were)
FAILED = "failed"  # a file could not be fetched; the next run tries again
GONE = "gone"  # the catalogue no longer has it; its files are kept, never deleted


@dataclass(frozen=True)
class SyncedFile:
    """One file of a product as the manifest records it; ``path`` is relative to the mirror."""

    kind: str
    href: str
    length: int | None
    path: str
    checksum: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "href": self.href,
            "length": self.length,
            "path": self.path,
            "checksum": self.checksum,
        }

    def same_bytes(self, other: SyncedFile, same_version: bool) -> bool:
        """Whether ``other`` is provably this file: same path and length, and the same version
        of the product or equal checksums."""
        if self.path != other.path or self.length != other.length or self.length is None:
            return False
        if self.checksum is not None and other.checksum is not None:
            return self.checksum == other.checksum
        return same_version

    @property
    def identity(self) -> tuple[Any, ...]:
        """What makes two records the same file; not the href, which a catalogue may sign
        anew or move to another host without the file changing."""
        return (self.kind, self.path, self.length, self.checksum)


@dataclass(frozen=True)
class Record:
    """A product as the manifest knows it (or as the catalogue gives it now)."""

    status: str
    updated: Any  # a pandas Timestamp, or None/NaT when the catalogue gives none
    files: tuple[SyncedFile, ...]


@dataclass(frozen=True)
class Plan:
    """What a run does to one product: ``action`` (new, changed, retried, unchanged), the old
    files to take away before fetching (paths relative to the mirror) and whether to fetch."""

    action: str
    take_away: tuple[str, ...]
    fetch: bool


def _same_instant(a: Any, b: Any) -> bool:
    missing_a = a is None or a != a  # None, NaN or NaT
    missing_b = b is None or b != b
    if missing_a or missing_b:
        return missing_a and missing_b
    return bool(a == b)


def plan_product(old: Record | None, new: Record) -> Plan:
    """The plan for a product the catalogue gives as ``new``, recorded as ``old`` (or never)."""
    if old is None:
        return Plan("new", (), True)
    same_version = _same_instant(old.updated, new.updated)
    if old.status == COMPLETE and same_version and _identities(old) == _identities(new):
        return Plan("unchanged", (), False)
    kept = _kept(old.files, new.files, same_version)
    take_away = tuple(sorted({f.path for f in old.files} - kept))
    action = "retried" if same_version and old.status != COMPLETE else "changed"
    return Plan(action, take_away, True)


def _identities(record: Record) -> set[tuple[Any, ...]]:
    return {f.identity for f in record.files}


def _kept(old: Sequence[SyncedFile], new: Sequence[SyncedFile], same_version: bool) -> set[str]:
    """The old paths whose bytes are provably the new version's."""
    by_path = {f.path: f for f in new}
    return {
        f.path for f in old if f.path in by_path and f.same_bytes(by_path[f.path], same_version)
    }
