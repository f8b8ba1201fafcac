"""The columns a partitioned STAC search declares before its partitions are fetched.

A Dask frame names its columns and dtypes up front (its ``meta``), from a sample: the first page
of the search. Every partition must then fit them. On OpenSearch the contract types the numbers a
catalogue shares (``cloudCover`` is a float). A STAC item's numbers are JSON numbers, which carry
no type: ``"eo:cloud_cover": 0`` and ``18.3`` are the same field, so a sample of whole numbers
says nothing of the next partition's. So the meta types every number as a float, except the
fields that are integers by definition: those of :data:`STAC_INTEGERS` (their extensions'
schemas say ``integer``) and the contract's integer columns (``relativeOrbitNumber``). Plain
searches type their frames by the same rule (:func:`as_stac_numbers`), so that the two agree and
a frame's dtypes never depend on its items' values; no request is made for it (a collection's
queryables could name more integers, at the cost of a request a search).
"""

from __future__ import annotations

import geopandas

from terracat.frame.contract import KNOWN_DTYPES

__all__ = ["STAC_INTEGERS", "as_stac_numbers"]

STAC_INTEGERS = frozenset(
    {"sat:absolute_orbit", "sat:relative_orbit", "sat:orbit_cycle", "mgrs:utm_zone", "proj:epsg"}
)
"""Item properties whose extension's JSON schema makes them integers."""


def _ambiguous_numbers(frame: geopandas.GeoDataFrame) -> list[str]:
    """``frame``'s whole-number columns that are not integers by definition (STAC's or the
    contract's): only their values made them whole."""
    whole = {*STAC_INTEGERS, *(name for name, dtype in KNOWN_DTYPES.items() if dtype == "Int64")}
    return [n for n, dtype in frame.dtypes.items() if str(dtype) == "Int64" and n not in whole]


def as_stac_numbers(frame: geopandas.GeoDataFrame) -> geopandas.GeoDataFrame:
    """``frame`` with its whole-number columns typed ``float64`` unless they are integers by
    definition: a plain search and each partition of a partitioned one type a field alike,
    whatever values their items happened to hold."""
    widened = dict.fromkeys(_ambiguous_numbers(frame), "float64")
    return frame.astype(widened) if widened else frame
