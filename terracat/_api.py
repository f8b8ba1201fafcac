"""The module-level functions: search, count, collections, login and read_parquet.

Each is a thin call on the default catalogue (:func:`terracat.catalogue.default_catalogue`) or
on the ``catalogue=`` given, so that a notebook needs no ``Catalogue`` object to start with.
The default is the one given to :func:`set_default_catalogue`, else the catalogue at
``$TERRACAT_URL`` (as for the ``terracat`` command), else Terrascope's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas

from terracat.catalogue import Catalogue, catalogue_at, default_catalogue, set_default
from terracat.config import CatalogueConfig
from terracat.exceptions import (
    AuthenticationException,
    ConfigurationException,
    ParameterParserException,
)
from terracat.frame.io import is_stac_geoparquet, read_frame

__all__ = ["collections", "count", "login", "read_parquet", "search", "set_default_catalogue"]

CatalogueLike = Catalogue | str | None
"""A ``Catalogue``, a catalogue URL (its protocol read from its landing page), or ``None``."""


def resolve_catalogue(catalogue: CatalogueLike) -> Catalogue:
    """``catalogue`` as a ``Catalogue``: a URL is looked at once (:func:`catalogue_at`)."""
    if isinstance(catalogue, str):
        return catalogue_at(catalogue)
    return default_catalogue(catalogue)


def set_default_catalogue(catalogue: Catalogue | CatalogueConfig | str | None) -> None:
    """Point ``terracat.search``, ``count``, ``collections`` and ``login`` at another catalogue.

    Parameters
    ----------
    catalogue : Catalogue, CatalogueConfig, str or None
        the catalogue to use when a call gives none: a ``Catalogue``, a configuration, or a
        catalogue URL (its protocol read from its landing page, once); ``None`` goes back to
        ``$TERRACAT_URL``, else the Terrascope catalogue

    Raises
    ------
    ConfigurationException
        when ``catalogue`` is none of these, or a URL that is not http(s) or cannot be reached

    Examples
    --------
    >>> terracat.set_default_catalogue("http://127.0.0.1:8080/")  # doctest: +SKIP
    >>> terracat.search("urn:eop:VITO:TERRASCOPE_S2_TOC_V2", limit=3)  # doctest: +SKIP
    >>> terracat.set_default_catalogue(None)  # doctest: +SKIP
    """
    if catalogue is None or isinstance(catalogue, Catalogue):
        set_default(catalogue)
    elif isinstance(catalogue, CatalogueConfig):
        set_default(Catalogue(catalogue))
    elif isinstance(catalogue, str):
        set_default(catalogue_at(catalogue))
    else:
        raise ConfigurationException(
            "set_default_catalogue takes a Catalogue, a CatalogueConfig, a catalogue URL str or "
            f"None, not {type(catalogue).__name__}: {catalogue!r}."
        )


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
        default catalogue (:func:`set_default_catalogue`, else ``$TERRACAT_URL``, else
        Terrascope's)
    **kwargs
        ``start``, ``end``, ``bbox``, ``geometry``, ``cloudCover``, ``tileId``, ``limit``,
        ``split`` ... as :meth:`Catalogue.search` takes them

    Examples
    --------
    >>> terracat.search("urn:eop:VITO:TERRASCOPE_S2_NDVI_V2", start="2022-02-01",
    ...                 end="2022-03-01", cloudCover=10)  # doctest: +SKIP
    """
    return resolve_catalogue(catalogue).search(collection, **kwargs)


def collections(*, catalogue: CatalogueLike = None, **kwargs: Any) -> geopandas.GeoDataFrame:
    """The catalogue's collections as a GeoDataFrame (see :meth:`Catalogue.collections`)."""
    return resolve_catalogue(catalogue).collections(**kwargs)


def count(collection: str, *, catalogue: CatalogueLike = None, **kwargs: Any) -> int:
    """The number of products a search would return, from one ``count=0`` request."""
    return resolve_catalogue(catalogue).count(collection, **kwargs)


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
    catalogue = resolve_catalogue(catalogue)
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
    bulk export) is told by its ``stac-geoparquet`` metadata key or its columns, and so is a
    directory or a glob of its part files (``exports/``, ``exports/part-*.parquet``, as bulk
    exports come); its items become the frame a STAC search of them gives (``kwargs`` are for
    GeoParquet exports only). The views, the ``.terracat`` accessor and downloads work on it as
    on a fresh search. A part that cannot be read is a ``ParameterParserException`` naming it.

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
