"""The module-level functions: search, count, collections, login and read_parquet.

Each is a thin call on the default catalogue (:func:`terracat.catalogue.default_catalogue`) or
on the ``catalogue=`` given, so that a notebook needs no ``Catalogue`` object to start with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas

from terracat.catalogue import Catalogue, catalogue_at, default_catalogue
from terracat.exceptions import AuthenticationException, ParameterParserException
from terracat.frame.io import is_stac_geoparquet, read_frame

__all__ = ["collections", "count", "login", "read_parquet", "search"]

CatalogueLike = Catalogue | str | None
"""A ``Catalogue``, a catalogue URL (its protocol read from its landing page), or ``None``."""


def _catalogue(catalogue: CatalogueLike) -> Catalogue:
    """``catalogue`` as a ``Catalogue``: a URL is looked at once (:func:`catalogue_at`)."""
    if isinstance(catalogue, str):
        return catalogue_at(catalogue)
    return default_catalogue(catalogue)


def search(
    collection: str, *, catalogue: CatalogueLike = None, **kwargs: Any
) -> geopandas.GeoDataFrame:
    """Search a collection's products into a GeoDataFrame, one row per product.

    Parameters
    ----------
    collection : str
        the collection identifier, e.g. ``urn:eop:VITO:TERRASCOPE_S2_TOC_V2``
    catalogue : Catalogue or str, optional
        where to search: a ``Catalogue``, a catalogue URL (``"https://stac.terrascope.be/"``;
        OpenSearch or STAC, read from its landing page once per URL), or ``None`` for the
        default Terrascope catalogue
    **kwargs
        ``start``, ``end``, ``bbox``, ``geometry``, ``cloudCover``, ``tileId``, ``limit``,
        ``split`` ... as :meth:`Catalogue.search` takes them

    Examples
    --------
    >>> terracat.search("urn:eop:VITO:TERRASCOPE_S2_NDVI_V2", start="2022-02-01",
    ...                 end="2022-03-01", cloudCover=10)  # doctest: +SKIP
    """
    return _catalogue(catalogue).search(collection, **kwargs)


def collections(*, catalogue: CatalogueLike = None, **kwargs: Any) -> geopandas.GeoDataFrame:
    """The catalogue's collections as a GeoDataFrame (see :meth:`Catalogue.collections`)."""
    return _catalogue(catalogue).collections(**kwargs)


def count(collection: str, *, catalogue: CatalogueLike = None, **kwargs: Any) -> int:
    """The number of products a search would return, from one ``count=0`` request."""
    return _catalogue(catalogue).count(collection, **kwargs)


def login(
    username: str | None = None,
    password: str | None = None,
    *,
    device: bool = False,
    cache: bool = True,
    catalogue: CatalogueLike = None,
) -> Catalogue:
    """Sign in to the default catalogue (or ``catalogue``), reusing a cached sign-in.

    With ``username`` and ``password``, the password grant; else a still-valid cached refresh
    token when there is one, and otherwise the browser sign-in (or, with ``device=True``, a code
    to confirm from another device). ``cache`` keeps the refresh token on disk, owner-only.

    Examples
    --------
    >>> terracat.login()  # doctest: +SKIP
    >>> terracat.search("urn:eop:VITO:TERRASCOPE_S2_TOC_V2", ...).terracat.download("out/")  # doctest: +SKIP
    """
    catalogue = _catalogue(catalogue)
    if username is not None or password is not None:
        if username is None or password is None:
            raise AuthenticationException("login needs both a username and a password, or neither")
        return catalogue.authenticate_non_interactive(username, password, cache=cache)
    if device:
        return catalogue.authenticate_device(cache=cache)
    return catalogue.authenticate(cache=cache)


def read_parquet(path: str | Path, **kwargs: Any) -> geopandas.GeoDataFrame:
    """Read a GeoParquet export of search results, or a stac-geoparquet file, into a product frame.

    A stac-geoparquet file (``df.terracat.to_stac_geoparquet``, rustac, ``stac_geoparquet``, a
    bulk export) is told by its ``stac-geoparquet`` metadata key or its columns; its items become
    the frame a STAC search of them gives (``kwargs`` are for GeoParquet exports only). The
    views, the ``.terracat`` accessor and downloads work on it as on a fresh search.

    Examples
    --------
    >>> df = terracat.read_parquet("earth-search.stac.parquet")  # doctest: +SKIP
    >>> df.terracat.download("out/")  # doctest: +SKIP
    """
    if is_stac_geoparquet(path):
        if kwargs:
            raise ParameterParserException(
                f"read_parquet({str(path)!r}): {sorted(kwargs)} apply to GeoParquet exports, "
                "and this is a stac-geoparquet file (read whole)"
            )
        from terracat.stacio import read_stac_geoparquet

        return read_stac_geoparquet(path)
    return read_frame(path, **kwargs)
