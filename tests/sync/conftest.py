"""A small local catalogue of its own per test: sync tests change its products between runs."""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import terracat
from terracat.mirroring import MANIFEST_NAME
from terracat.mirroring.run import LOCK_NAME
from terracat.server import LocalCatalogue
from terracat.server.demo import DEFAULT_SIZE_SCALE, build_demo_collections
from terracat.server.store import CollectionEntry

NDVI = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"
TILE = "31UFS"
PRODUCTS = 12  # of one tile, in January 2020: a data file, related files and previews each


@functools.cache
def _demo_ndvi() -> CollectionEntry:
    return next(c for c in build_demo_collections(DEFAULT_SIZE_SCALE) if c.id == NDVI)


def small_collection(products: int = PRODUCTS) -> CollectionEntry:
    """A fresh copy of the demo NDVI collection cut to ``products`` products of one tile."""
    demo = _demo_ndvi()
    chosen = [p for p in demo.products if f"_{TILE}_" in p["id"]][:products]
    return CollectionEntry(copy.deepcopy(demo.feature), copy.deepcopy(chosen), demo.protected)


@pytest.fixture
def small() -> Iterator[LocalCatalogue]:
    with LocalCatalogue([small_collection()]) as local:
        yield local


def catalogue_of(local: LocalCatalogue, protocol: str) -> terracat.Catalogue:
    config = local.config()
    if protocol == "stac":
        config.catalogue_url = local.url + "stac/"
        config.protocol = "stac"
    return terracat.Catalogue(config)


def tree(root: Path) -> dict[str, bytes]:
    """Every file of a mirror but its manifest and lock, by relative path, with its bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in (MANIFEST_NAME, LOCK_NAME)
    }


def served(local: LocalCatalogue, href: str) -> bytes:
    """The bytes the local catalogue serves at ``href`` now."""
    path = "/" + href.split("/", 3)[3]
    return local.store.files[path].read()


def searches(local: LocalCatalogue, since: int) -> list[str]:
    """The search (and count) requests the catalogue had after its ``since``-th request."""
    return [r for r in local.app.requests[since:] if r.startswith(("/products", "/stac/search"))]


def downloads(local: LocalCatalogue, since: int) -> list[str]:
    """The download requests the catalogue had after its ``since``-th request."""
    return [r for r in local.app.requests[since:] if r.startswith("/download/")]


def manifest_table(root: Path) -> pd.DataFrame:
    """A mirror's manifest as a plain table (footprints as WKT), to compare two mirrors'."""
    frame = terracat.read_parquet(root / MANIFEST_NAME)
    return pd.DataFrame(frame.drop(columns="geometry")).assign(geometry=frame.geometry.to_wkt())
