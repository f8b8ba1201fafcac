"""The columns a partitioned STAC search declares before its partitions are fetched.

A Dask frame names its columns and dtypes up front (its ``meta``), from a sample: the first page
of the search. Every partition must then fit them. On OpenSearch the contract types the numbers a
catalogue shares (``cloudCover`` is a float). A STAC item's numbers are JSON numbers, which carry
no type: ``"eo:cloud_cover": 0`` and ``18.3`` are the same field, so a sample of whole numbers
says nothing of the next partition's. So the meta types every number as a float, except the
fields that are integers by definition: those of :data:`STAC_INTEGERS` (their extensions'
schemas say ``integer``), the contract's integer columns (``relativeOrbitNumber``), and whatever
the collection's queryables declare ``integer``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import geopandas

from terracat.frame.contract import KNOWN_DTYPES

__all__ = ["STAC_INTEGERS", "integer_queryables", "partition_meta"]

STAC_INTEGERS = frozenset(
    {"sat:absolute_orbit", "sat:relative_orbit", "sat:orbit_cycle", "mgrs:utm_zone", "proj:epsg"}
)
"""Item properties whose extension's JSON schema makes them integers."""


def integer_queryables(queryables: Mapping[str, Any]) -> set[str]:
    """The properties a collection's queryables declare ``integer`` (``"type": "integer"`` or
    a list of types holding it and no ``number``)."""
    found = set()
    for name, schema in queryables.items():
        kind = schema.get("type") if isinstance(schema, dict) else None
        kinds = set(kind) if isinstance(kind, list) else {kind}
        if "integer" in kinds and "number" not in kinds:
            found.add(name)
    return found


def partition_meta(
    sample: geopandas.GeoDataFrame, integers: Iterable[str]
) -> geopandas.GeoDataFrame:
    """The empty frame of ``sample``'s columns, its whole-number columns typed ``float64``
    unless they are ``integers`` (or integers of the contract), so that any partition's numbers
    fit it."""
    whole = {*integers, *(name for name, dtype in KNOWN_DTYPES.items() if dtype == "Int64")}
    meta = sample.iloc[:0]
    widened = {
        name: "float64"
        for name, dtype in meta.dtypes.items()
        if str(dtype) == "Int64" and name not in whole
    }
    return meta.astype(widened) if widened else meta
