"""A mirror's state: one GeoParquet file of product rows, replaced atomically, never half-written.

The manifest is the search frame of the mirrored products (every contract column, so that
``terracat.read_parquet`` gives a frame whose views and downloads work) plus three columns of the
sync's own: ``syncStatus`` (complete, pending, failed, gone), ``syncFiles`` (JSON text: each file's
kind, href, length, path relative to the mirror and checksum) and ``syncError``. What the mirror
is of (collection, filters, file kinds) and how far it is complete sit in the file's key-value
metadata under ``terracat.sync``.

It is written to a temporary file in the mirror, flushed to disk and renamed over the old one, so
a run killed at any instant leaves either the previous manifest or the next, both whole.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import geopandas
import pandas as pd
import pyarrow.parquet as pq
from geopandas.io.arrow import _geopandas_to_arrow

from terracat.exceptions import ParameterParserException
from terracat.frame.io import read_frame
from terracat.mirroring.plan import Record, SyncedFile

__all__ = [
    "MANIFEST_NAME",
    "SYNC_COLUMNS",
    "MirrorState",
    "read_manifest",
    "record_of",
    "remove_temporaries",
    "write_manifest",
]

MANIFEST_NAME = "terracat-sync.parquet"
METADATA_KEY = b"terracat.sync"
TEMPORARY_PREFIX = f".{MANIFEST_NAME}."
SYNC_COLUMNS = ("syncStatus", "syncFiles", "syncError")
STATE_VERSION = 1


@dataclass(frozen=True)
class MirrorState:
    """What a mirror holds and until when it is known complete.

    ``complete_until`` is when the last run that ended with every product complete began (ISO
    8601, UTC): the next run asks for products modified since then, less the overlap.
    """

    collection: str
    filters: str  # the search's filters as canonical JSON text
    file_types: tuple[str, ...]
    complete_until: str | None = None
    version: int = STATE_VERSION

    def check_same_mirror(self, other: MirrorState, path: Path) -> None:
        """Refuse to sync a different search into ``path``: its manifest would be wrong for both."""
        for name in ("collection", "filters", "file_types"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                raise ParameterParserException(
                    f"{path} mirrors another search: its {name} is {_shown(mine)}, this sync's "
                    f"is {_shown(theirs)}; sync into another directory (or remove "
                    f"{path / MANIFEST_NAME} to start this mirror afresh)"
                )

    @property
    def since(self) -> dt.datetime | None:
        return dt.datetime.fromisoformat(self.complete_until) if self.complete_until else None


def _shown(value: Any) -> str:
    return repr(list(value)) if isinstance(value, tuple) else repr(value)


def read_manifest(root: Path) -> tuple[geopandas.GeoDataFrame | None, MirrorState | None]:
    """The manifest's rows and state, or ``(None, None)`` for a mirror never synced."""
    path = root / MANIFEST_NAME
    if not path.exists():
        return None, None
    try:
        saved = json.loads((pq.read_schema(path).metadata or {}).get(METADATA_KEY))
        state = MirrorState(**{**saved, "file_types": tuple(saved["file_types"])})
        frame = read_frame(path)
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise ParameterParserException(
            f"{path} is not a terracat sync manifest ({error}); sync into another directory"
        ) from None
    return frame, state


def write_manifest(frame: geopandas.GeoDataFrame, state: MirrorState, root: Path) -> None:
    """Replace the manifest with ``frame`` and ``state``, atomically and durably."""
    # geopandas' own conversion for to_parquet, geo metadata and all: to_parquet itself cannot
    # add the state to the file's metadata
    table = _geopandas_to_arrow(frame, index=False)
    metadata = {**(table.schema.metadata or {}), METADATA_KEY: json.dumps(asdict(state))}
    table = table.replace_schema_metadata(metadata)
    target = root / MANIFEST_NAME
    temporary = root / f"{TEMPORARY_PREFIX}{uuid.uuid4().hex}.tmp"
    try:
        pq.write_table(table, temporary)
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(temporary, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    with contextlib.suppress(OSError):  # the rename itself made durable, where the OS lets us
        directory = os.open(root, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def remove_temporaries(root: Path) -> None:
    """Remove the temporary manifests a killed run left (called with the mirror's lock held)."""
    for left in root.glob(f"{TEMPORARY_PREFIX}*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            left.unlink()


def files_of(text: Any) -> tuple[SyncedFile, ...]:
    """The ``syncFiles`` JSON text of a manifest row as :class:`SyncedFile` s."""
    if text is None or text is pd.NA or (isinstance(text, float) and text != text):
        return ()
    return tuple(SyncedFile(**entry) for entry in json.loads(text))


def files_text(files: tuple[SyncedFile, ...]) -> str:
    return json.dumps([f.as_dict() for f in files])


def record_of(row: Any) -> Record:
    """A manifest row (a namedtuple-like with the sync columns) as a :class:`Record`."""
    return Record(row.syncStatus, getattr(row, "updated", None), files_of(row.syncFiles))
