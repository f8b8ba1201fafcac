"""Keep a local mirror of a search up to date: ``terracat.sync`` and ``terracat sync``.

``plan`` decides per product (pure), ``manifest`` keeps the mirror's state in one GeoParquet file
replaced atomically, ``run`` runs a sync in the order that makes a killed run resumable. (Named
for what it keeps, not ``sync``, so that ``terracat.sync`` is only ever the function.)
"""

from __future__ import annotations

import os
from typing import Any

from terracat.exceptions import SyncIncomplete
from terracat.mirroring.manifest import MANIFEST_NAME
from terracat.mirroring.run import DEFAULT_OVERLAP, SyncReport, run_sync

__all__ = ["MANIFEST_NAME", "SyncIncomplete", "SyncReport", "sync"]


def sync(
    collection: str,
    path: str | os.PathLike[str],
    *,
    file_types: Any = "data",
    catalogue: Any = None,
    overlap: Any = DEFAULT_OVERLAP,
    replaced: str = "remove",
    workers: int | None = None,
    progress: bool = True,
    raise_on_failure: bool = True,
    **filters: Any,
) -> SyncReport:
    """Bring the mirror in ``path`` up to date with a search: what is new or reprocessed, only.

    The first run downloads every product the search finds; each later run asks the catalogue
    only for the products modified since the last run that completed (less ``overlap``, for
    clocks that differ and products indexed late), fetches the new ones and those whose files
    changed, and records each product in ``path/terracat-sync.parquet`` as soon as its files are
    all there. A run killed at any point resumes where it stopped when run again.

    Parameters
    ----------
    collection :
        the collection, as for :func:`terracat.search`
    path :
        the mirror's directory: ``path/<product>/<file>``, and the manifest
    file_types :
        the file kinds to mirror (``"data"``, ``"data,related"``, ``"all"``, ``ProductFileType``)
    catalogue :
        a ``Catalogue``, a catalogue URL or ``None`` (the default catalogue)
    overlap :
        how far before the last complete run to look again (``"1D"`` by default; ``"6h"``, a
        ``timedelta``, seconds); products seen twice are fetched once
    replaced :
        what becomes of the files a reprocessed product no longer has or changes: ``"remove"``,
        or ``"keep"`` (moved to ``path/.replaced/<old version's updated>/<product>/``)
    workers, progress :
        as for ``df.terracat.download``
    raise_on_failure :
        raise :class:`SyncIncomplete` (after the run, its report attached) when a product's
        files could not be fetched; the manifest records them failed, the next run retries them
    **filters :
        the search: ``start``, ``end``, ``bbox``, ``geometry``, ``cloudCover``, ``tileId``, ...
        (the same on every run of a mirror; ``limit`` and ``modificationDate`` are the sync's)

    Returns
    -------
    SyncReport
        one row per product looked at (action, status, files, bytes), the file report, and
        the products that disappeared from the catalogue (reported, their files kept)

    Examples
    --------
    >>> report = terracat.sync("urn:eop:VITO:TERRASCOPE_S2_NDVI_V2", "mirror/",
    ...                        bbox=[4.1, 50.0, 5.5, 51.0], start="2024-01-01")  # doctest: +SKIP
    >>> report.summary()  # doctest: +SKIP
    """
    from terracat._api import resolve_catalogue

    return run_sync(
        resolve_catalogue(catalogue),
        collection,
        path,
        file_types=file_types,
        overlap=overlap,
        replaced=replaced,
        workers=workers,
        progress=progress,
        raise_on_failure=raise_on_failure,
        filters=filters,
    )
