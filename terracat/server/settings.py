"""How the local catalogue pages and where it puts files: one settings object for every face."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings"]


@dataclass
class Settings:
    """How the local catalogue pages and where it materialises files.

    ``max_depth`` is the deepest result a client may page to (``startIndex + count - 1``), as
    the real catalogue limits it; ``stac_max_limit`` the most items a STAC page holds (a larger
    ``limit`` gets this many, as STAC API servers answer; 10,000 as in Terrascope's software);
    ``stac_refuse_above_max`` answers such a ``limit`` with a 400 instead, as stac-fastapi does;
    ``stac_filtering`` chooses what the STAC face declares and takes for filters: ``"filter"``
    (the Filter extension, CQL2 text and JSON), ``"cql2-text"`` (the Filter extension with CQL2
    text only: filters by GET, a filter in a POST body or in CQL2 JSON refused, as servers that
    declare only ``cql2-text`` do), ``"query"`` (the Query extension only) or ``"none"``;
    ``files_dir`` receives the files of ``accessedFrom=MEP`` hrefs.
    """

    page_size: int = 100
    max_count: int = 1000
    max_depth: int = 10_000
    stac_max_limit: int = 10_000
    stac_refuse_above_max: bool = False
    stac_filtering: str = "filter"
    files_dir: Path | None = None
    s3_bucket: str = "terrascope"
    realm: str = "terrascope"
    download_redirect: str | None = (
        None  # answer downloads with a 302 to this base URL's /download/
    )
