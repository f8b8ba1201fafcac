"""The catalogue connection and the documented object API, as views over frame rows.

``Catalogue`` keeps the reference client's methods and signatures; its searches run through the
same layers as :func:`terracat.search` (query -> paging -> frame) and its ``Product`` and
``Collection`` objects are made from frame rows, so a frame read back from GeoParquet gives the
same objects as a fresh search.
"""

from __future__ import annotations

import datetime as dt
import enum
import html
import json
import logging
import os
import threading
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import geopandas
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from terracat import query
from terracat._http import make_session
from terracat.auth import BearerAuth, TokenCache, cache_key, sign_in
from terracat.config import CatalogueConfig
from terracat.download import FileTask, Transport, download, file_tasks, human_size
from terracat.exceptions import ParameterParserException
from terracat.frame import (
    FILE_COLUMNS,
    FrameBuilder,
    as_naive_utc,
    features_frame,
    unusable_product,
)
from terracat.protocols.opensearch import OpenSearchDecoder, PageFetcher, Pages

__all__ = [
    "Catalogue",
    "Collection",
    "Product",
    "ProductFile",
    "ProductFileType",
]

logger = logging.getLogger(__name__)

DateLike = str | dt.date | dt.datetime
BBoxLike = str | list[int | float] | tuple[int | float, ...] | dict[str, int | float]


class Collection:
    """Collection returned from a catalogue search.

    Attributes
    ----------
    id : str
        collection identifier
    geojson : dict
        GeoJSON representation of the collection
    geometry : BaseGeometry
        collection geometry as a Shapely geometry
    bbox : list of float
        bounding box
    properties : dict
        collection properties
    """

    def __init__(
        self, id: str, geojson: dict, geometry: BaseGeometry, bbox: list[float], properties: dict
    ) -> None:
        self.id = id
        self.geojson = geojson
        self.geometry = geometry
        self.bbox = bbox
        self.properties = properties

    def __str__(self) -> str:
        return self.id

    def __repr__(self) -> str:
        return f"Collection({self.id!r}, title={self.properties.get('title')!r})"


class ProductFileType(enum.Flag):
    """Enum flag to indicate the type of a product file."""

    DATA = enum.auto()  #: Data files
    RELATED = enum.auto()  #: Related files (eg. cloud mask)
    PREVIEWS = enum.auto()  #: Previews
    ALTERNATES = enum.auto()  #: Metadata description in an alternative format
    ALL = DATA | RELATED | PREVIEWS | ALTERNATES  #: Matches all types of files


class ProductFile:
    """File that belongs to a product.

    Attributes
    ----------
    href : str
        URI locator of the product file
    length : int or None
        content length in bytes
    title, type, category : str or None
        title, content type, and category (only for previews or related files)
    """

    def __init__(
        self,
        href: str,
        length: int | None,
        title: str | None = None,
        type: str | None = None,
        category: str | None = None,
    ) -> None:
        self.href = href
        self.length = length
        self.title = title
        self.type = type
        self.category = category

    def __str__(self) -> str:
        return self.href

    def __repr__(self) -> str:
        return f"ProductFile({self.href!r}, length={self.length!r}, title={self.title!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProductFile):
            return NotImplemented
        return (self.href, self.length, self.title, self.type, self.category) == (
            other.href,
            other.length,
            other.title,
            other.type,
            other.category,
        )

    def __hash__(self) -> int:
        return hash((self.href, self.length))

    def get_protocol(self) -> str:
        return self.href[: self.href.find("://")].lower()


class Product:
    """Product entry returned from a catalogue search.

    Attributes
    ----------
    id, title : str
        product identifier and title
    geojson : dict
        GeoJSON representation of the product
    geometry : BaseGeometry
        footprint
    bbox : list of float
        bounding box
    beginningDateTime, endingDateTime : datetime.datetime
        acquisition start and end, naive UTC as in the reference client
    properties : dict
        the product's properties as the catalogue sent them
    data, related, previews, alternates : list of ProductFile
        data files, related resources (e.g. cloud mask), quicklooks, alternative metadata
    """

    def __init__(
        self,
        id: str,
        title: str,
        geojson: dict,
        geometry: BaseGeometry,
        bbox: list[float],
        beginningDateTime: dt.datetime | None,
        endingDateTime: dt.datetime | None,
        properties: dict,
        data: list[ProductFile],
        related: list[ProductFile],
        previews: list[ProductFile],
        alternates: list[ProductFile],
    ) -> None:
        self.id = id
        self.title = title
        self.geojson = geojson
        self.geometry = geometry
        self.bbox = bbox
        self.beginningDateTime = beginningDateTime
        self.endingDateTime = endingDateTime
        self.properties = properties
        self.data = data
        self.related = related
        self.previews = previews
        self.alternates = alternates

    def __str__(self) -> str:
        return self.id

    def __repr__(self) -> str:
        return f"Product({self.id!r}, beginningDateTime={self.beginningDateTime!r}, files={len(self.files())})"

    def _repr_html_(self) -> str:
        """A card for notebooks: the main fields, the files, and a quicklook when one is a picture."""
        rows = [
            ("title", self.title),
            ("acquired", f"{self.beginningDateTime} to {self.endingDateTime}"),
            *(
                (key, self.properties.get("productInformation", {}).get(key))
                for key in ("productType", "cloudCover")
                if key in self.properties.get("productInformation", {})
            ),
            *((kind, f"{len(getattr(self, kind))} file(s)") for kind in FILE_COLUMNS),
        ]
        table = "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in rows
        )
        picture = next(
            (f for f in self.previews if (f.type or "").lower() in ("image/png", "image/jpeg")),
            None,
        )
        image = (
            f'<img src="{html.escape(picture.href)}" style="max-width:256px">' if picture else ""
        )
        return f"<div><strong>{html.escape(self.id)}</strong><table>{table}</table>{image}</div>"

    def files(self, file_types: ProductFileType = ProductFileType.ALL) -> list[ProductFile]:
        """The product's files of the given types, data first."""
        chosen: list[ProductFile] = []
        for kind, flag in zip(FILE_COLUMNS, _FILE_FLAGS, strict=True):
            if flag in file_types:
                chosen += getattr(self, kind)
        return chosen


_FILE_FLAGS = (
    ProductFileType.DATA,
    ProductFileType.RELATED,
    ProductFileType.PREVIEWS,
    ProductFileType.ALTERNATES,
)


def _geojson(row: Any, properties: dict[str, Any]) -> dict[str, Any]:
    geometry = row.geometry
    return {
        "type": "Feature",
        "id": row.id,
        "geometry": None if geometry is None else shapely.geometry.mapping(geometry),
        "bbox": None if geometry is None else list(geometry.bounds),
        "properties": properties,
    }


def _page_size(count: Any) -> int:
    """The page size: the configuration's, or a ``count`` the caller passed through."""
    try:
        size = int(count)
    except (TypeError, ValueError):
        size = 0
    if size < 1:
        raise ParameterParserException(
            f"count is the page size and must be a positive whole number, got {count!r}"
        )
    return size


def _properties_of(row: Any) -> dict[str, Any]:
    """A row's properties, from its text; json recurses per nesting level, bounded by Python's
    recursion limit from the caller's stack, which the search's parse may have been below."""
    try:
        return json.loads(row.properties)  # type: ignore[no-any-return]
    except RecursionError:
        problem = "its properties nest arrays and objects too deeply to be read here"
        raise unusable_product(row.id, problem) from None


def product_from_row(row: Any) -> Product:
    """The documented ``Product`` of one frame row (a namedtuple from ``itertuples``)."""
    properties = _properties_of(row)
    files = {
        kind: [ProductFile(**link) for link in getattr(row, kind, None) or []]
        for kind in FILE_COLUMNS
    }
    return Product(
        row.id,
        row.title,
        _geojson(row, properties),
        row.geometry,
        [] if row.geometry is None else list(row.geometry.bounds),
        as_naive_utc(getattr(row, "beginningDateTime", None)),
        as_naive_utc(getattr(row, "endingDateTime", None)),
        properties,
        **files,
    )


def collection_from_row(row: Any) -> Collection:
    """The documented ``Collection`` of one row of a collections frame."""
    properties = _properties_of(row)
    geojson = _geojson(row, properties)
    return Collection(row.id, geojson, row.geometry, geojson["bbox"], properties)


def rows(frame: pd.DataFrame) -> Iterator[Any]:
    """Rows as namedtuples whose attribute names are the frame's column names."""
    columns = list(frame.columns)
    for values in frame.itertuples(index=False, name=None):
        yield _Row(columns, values)


class _Row:
    __slots__ = ("_values",)

    def __init__(self, columns: list[str], values: tuple[Any, ...]) -> None:
        self._values = dict(zip(columns, values, strict=True))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None


def file_kinds(file_types: Any) -> tuple[str, ...]:
    """The file columns a ``file_types`` value selects.

    Accepts a :class:`ProductFileType` (flags combine), a name (``"data"``, ``"related"``,
    ``"previews"``, ``"alternates"``, ``"all"``), comma-separated names, or a list of names.
    """
    if isinstance(file_types, ProductFileType):
        return tuple(
            kind for kind, flag in zip(FILE_COLUMNS, _FILE_FLAGS, strict=True) if flag in file_types
        )
    names = file_types.split(",") if isinstance(file_types, str) else file_types
    try:
        chosen = {str(name).strip().lower() for name in names}
    except TypeError:
        chosen = {repr(file_types)}
    if "all" in chosen:
        return FILE_COLUMNS
    unknown = chosen - set(FILE_COLUMNS)
    if unknown or not chosen:
        raise ParameterParserException(
            f"file_types {file_types!r} is not understood; use ProductFileType flags or names from "
            f"{[*FILE_COLUMNS, 'all']}"
        )
    return tuple(kind for kind in FILE_COLUMNS if kind in chosen)


def _links(files: Iterable[ProductFile]) -> list[dict[str, Any]]:
    return [{"href": f.href, "length": f.length} for f in files]


_live: dict[str, weakref.ref[Catalogue]] = {}
_live_lock = threading.Lock()


def catalogue_for(url: str | None, client: str | None = None) -> Catalogue:
    """The catalogue a frame came from.

    The very ``Catalogue`` that searched it while it lives (its sign-in included), else the one
    that last searched the same URL, else a new one for that URL (the default for Terrascope).
    """
    import terracat

    for key in (client, url):
        if key:
            with _live_lock:
                found = _live.get(key)
            catalogue = found() if found is not None else None
            if catalogue is not None:
                return catalogue
    if url and url != terracat._catalogue(None).config.catalogue_url:
        return Catalogue(CatalogueConfig.from_url(url))
    return terracat._catalogue(None)


class Catalogue:
    """Connection to a catalogue endpoint, which allows for searching and downloading EO products.

    Parameters
    ----------
    config : CatalogueConfig, optional
        catalogue configuration; the default Terrascope configuration when none is given

    Examples
    --------
    >>> catalogue = Catalogue()
    >>> catalogue.config.catalogue_url
    'https://services.terrascope.be/catalogue/'
    """

    def __init__(self, config: CatalogueConfig | None = None) -> None:
        self.config = config if config is not None else CatalogueConfig.get_default_config()
        self._auth: Any = None
        self._session = make_session(self.config, pool_size=self.config.search_workers)
        self._session.headers["Accept"] = "application/geo+json, application/json"
        self._downloads: Any = None
        with _live_lock:
            _live[self.config.catalogue_url] = weakref.ref(self)

    def close(self) -> None:
        """Close the catalogue's connections (searches and downloads)."""
        self._session.close()
        if self._downloads is not None:
            self._downloads.close()

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        signed = ", signed in" if self._auth is not None else ""
        return f"Catalogue({self.config.catalogue_url!r}{signed})"

    # ---- signing in ----------------------------------------------------------------------------

    def _signed_in(self, auth: BearerAuth | None) -> Catalogue:
        """Sign every request of this catalogue with ``auth`` (``None``: anonymous again)."""
        self._auth = auth
        self._session.auth = auth
        if self._downloads is not None:
            self._downloads.auth = auth
        return self

    def _cache(self, cache: bool) -> TokenCache | None:
        return TokenCache(self.config.token_cache_path) if cache else None

    def authenticate(
        self, *, browser: Any = None, cache: bool = False, timeout: float = 300.0
    ) -> Catalogue:
        """Authenticate to the catalogue in an interactive way: a browser window opens to sign in.

        The authorization code flow with PKCE, the answer caught on a loopback port.
        ``browser`` opens the sign-in URL (``webbrowser.open`` by default); ``cache=True`` keeps
        the refresh token on disk (owner-only) and reuses it while it is valid.
        """
        auth = sign_in(
            self.config,
            self._session,
            "interactive",
            browser=browser,
            cache=self._cache(cache),
            reuse=cache,
            timeout=timeout,
        )
        return self._signed_in(auth)

    def authenticate_non_interactive(
        self, username: str, password: str, *, cache: bool = False
    ) -> Catalogue:
        """Authenticate to the catalogue in a non-interactive way, with user credentials.

        The password grant; the password is sent to the identity provider only, never kept.
        ``cache=True`` keeps the resulting refresh token on disk for :func:`terracat.login`.
        """
        auth = sign_in(
            self.config,
            self._session,
            "password",
            username=username,
            password=password,
            cache=self._cache(cache),
        )
        return self._signed_in(auth)

    def authenticate_device(
        self, *, notify: Any = None, cache: bool = False, timeout: float = 600.0
    ) -> Catalogue:
        """Authenticate on a machine without a browser (notebook servers, clusters).

        The device authorization grant: ``notify(uri, code)`` (by default, a line on stderr)
        tells the user where to confirm the code from another device; this call returns once
        they have.
        """
        auth = sign_in(
            self.config,
            self._session,
            "device",
            notify=notify,
            cache=self._cache(cache),
            reuse=cache,
            timeout=timeout,
        )
        return self._signed_in(auth)

    def logout(self, *, cache: bool = True) -> None:
        """Forget the sign-in (and, with ``cache``, its cached token)."""
        self._signed_in(None)
        if cache:
            TokenCache(self.config.token_cache_path).save(cache_key(self.config), None)

    # ---- frames ------------------------------------------------------------------------------

    def _pages(self, endpoint: str, params: dict[str, str], limit: int | None) -> Pages:
        fetch = PageFetcher(
            self._session,
            self.config.catalogue_url + endpoint,
            self.config.search_timeout,
            self.config.retries,
            self.config.max_page_bytes,
        )
        page_size = _page_size(params.pop("count", self.config.page_size))
        return Pages(
            fetch, params, page_size=page_size, limit=limit, workers=self.config.search_workers
        )

    def _frame(
        self, pages: Pages, endpoint: str, params: dict[str, str], *, split: bool = False
    ) -> geopandas.GeoDataFrame:
        builder = FrameBuilder(
            pages.limit, decoder=OpenSearchDecoder(), source=self.config.catalogue_url + endpoint
        )
        pages.collect(builder.add, split=split)
        frame = builder.build()
        client = f"{id(self):x}"
        with _live_lock:
            _live[self.config.catalogue_url] = _live[client] = weakref.ref(self)
        frame.attrs["terracat"] = {
            "catalogue": self.config.catalogue_url,
            "client": client,
            "endpoint": endpoint,
            "query": dict(params),
        }
        return frame

    def search(
        self,
        collection: str,
        start: DateLike | None = None,
        end: DateLike | None = None,
        bbox: BBoxLike | None = None,
        geometry: str | BaseGeometry | None = None,
        title: str | None = None,
        productType: str | None = None,
        relativeOrbitNumber: int | str | None = None,
        orbitDirection: str | None = None,
        cloudCover: Any = None,
        tileId: str | None = None,
        productGroupId: str | None = None,
        publicationDate: Any = None,
        modificationDate: Any = None,
        accessedFrom: str | None = None,
        limit: int | None = None,
        *,
        split: bool = False,
        **kwargs: Any,
    ) -> geopandas.GeoDataFrame:
        """Search products into a GeoDataFrame, one row per product.

        Parameters are those of :meth:`get_products`; in addition ``split=True`` fetches a result
        deeper than the catalogue lets a client page, by splitting the time range into windows
        that each fit (counted first, then fetched concurrently), instead of raising
        ``TooManyResultsException``.

        Examples
        --------
        >>> df = catalogue.search("urn:eop:VITO:TERRASCOPE_S2_TOC_V2", start="2022-02-01",
        ...                       end="2022-03-01", bbox=[4.1, 50.0, 5.5, 51.0])  # doctest: +SKIP
        >>> df.query("cloudCover < 10")  # doctest: +SKIP
        """
        limit = query.check_limit(limit)
        named = {k: v for k, v in locals().items() if k in query.PRODUCT_FILTERS}
        params = query.product_query(collection, **named, **kwargs)
        pages = self._pages("products", dict(params), limit)
        return self._frame(pages, "products", params, split=split)

    def collections(
        self,
        start: DateLike | None = None,
        end: DateLike | None = None,
        bbox: BBoxLike | None = None,
        geometry: str | BaseGeometry | None = None,
        platform: str | None = None,
        **kwargs: Any,
    ) -> geopandas.GeoDataFrame:
        """The catalogue's collections as a GeoDataFrame, one row per collection."""
        params = query.collection_query(
            start=start, end=end, bbox=bbox, geometry=geometry, platform=platform, **kwargs
        )
        pages = self._pages("collections", dict(params), None)
        return self._frame(pages, "collections", params)

    def count(self, collection: str, **kwargs: Any) -> int:
        """The number of products matching the query (one ``count=0`` request)."""
        return self.get_product_count(collection, **kwargs)

    # ---- the reference API ---------------------------------------------------------------------

    def get_collections(
        self,
        start: DateLike | None = None,
        end: DateLike | None = None,
        bbox: BBoxLike | None = None,
        geometry: str | BaseGeometry | None = None,
        platform: str | None = None,
        **kwargs: Any,
    ) -> Iterator[Collection]:
        """Get the collections in the catalogue, lazily (nothing is requested before iteration)."""
        params = query.collection_query(
            start=start, end=end, bbox=bbox, geometry=geometry, platform=platform, **kwargs
        )
        return self._views("collections", params, None, collection_from_row)

    def get_products(
        self,
        collection: str,
        start: DateLike | None = None,
        end: DateLike | None = None,
        bbox: BBoxLike | None = None,
        geometry: str | BaseGeometry | None = None,
        title: str | None = None,
        productType: str | None = None,
        relativeOrbitNumber: int | str | None = None,
        orbitDirection: str | None = None,
        cloudCover: Any = None,
        tileId: str | None = None,
        productGroupId: str | None = None,
        publicationDate: Any = None,
        modificationDate: Any = None,
        accessedFrom: str | None = None,
        limit: int | None = None,
        **kwargs: Any,
    ) -> Iterator[Product]:
        """Get the products matching the query, lazily and page by page.

        Nothing is requested until the first product is asked for; ``TooManyResultsException``
        is raised then when the result is deeper than the catalogue lets a client page.
        Parameters are encoded as in :func:`terracat.query.product_query`.
        """
        limit = query.check_limit(limit)
        named = {k: v for k, v in locals().items() if k in query.PRODUCT_FILTERS}
        params = query.product_query(collection, **named, **kwargs)
        return self._views("products", params, limit, product_from_row)

    def _views(
        self, endpoint: str, params: dict[str, str], limit: int | None, view: Any
    ) -> Iterator[Any]:
        pages = self._pages(endpoint, dict(params), limit)
        source = self.config.catalogue_url + endpoint
        batch: list[Any] = []
        for feature in pages.iter_features():
            batch.append(feature)
            if len(batch) == pages.page_size:
                yield from map(
                    view, rows(features_frame(batch, source, decoder=OpenSearchDecoder()))
                )
                batch = []
        if batch:
            yield from map(view, rows(features_frame(batch, source, decoder=OpenSearchDecoder())))

    # ---- downloads ----------------------------------------------------------------------------

    def _download_session(self) -> Any:
        if self._downloads is None:
            self._downloads = make_session(self.config, pool_size=self.config.download_workers)
            self._downloads.auth = self._auth
        return self._downloads

    def _download_tasks(
        self,
        tasks: list[FileTask],
        *,
        workers: int | None = None,
        progress: bool = True,
        overwrite: bool = False,
        raise_on_failure: bool = True,
        link: bool = False,
    ) -> pd.DataFrame:
        """Run the downloader over ``tasks``; the engine of every download method."""
        transport = Transport(
            self._download_session(),
            self.config,
            login_prefixes=[self.config.oidc_authorization_endpoint],
            link=link,
            renew=self._auth.renew if self._auth is not None else None,
        )
        try:
            return download(
                tasks,
                transport,
                workers=self.config.download_workers if workers is None else workers,
                progress=progress,
                overwrite=overwrite,
                raise_on_failure=raise_on_failure,
            )
        finally:
            transport.close()

    def download_products(
        self,
        products: Iterable[Product],
        path: str | os.PathLike[str],
        file_types: ProductFileType = ProductFileType.ALL,
        force: bool = False,
        raise_on_failure: bool = True,
    ) -> pd.DataFrame | None:
        """Download the given products' files of ``file_types`` into ``path/<product>/``.

        Without ``force``, asks for confirmation first, showing the total size. Returns the
        download report (one row per file), or ``None`` when the user declines.
        """
        products = list(products)
        kinds = file_kinds(file_types)
        tasks = file_tasks(
            [(p.id, {kind: _links(getattr(p, kind)) for kind in kinds}) for p in products],
            Path(path),
            kinds,
        )
        if not force:
            size = human_size(sum(t.length or 0 for t in tasks))
            while True:
                answer = (
                    input(f"You are about to download {size}, do you want to continue? [Y/n] ")
                    .strip()
                    .lower()
                )
                if answer in ("", "y", "yes"):
                    break
                if answer in ("n", "no"):
                    return None
        return self._download_tasks(tasks, raise_on_failure=raise_on_failure)

    def download_product(
        self,
        product: Product,
        path: str | os.PathLike[str],
        file_types: ProductFileType = ProductFileType.ALL,
        raise_on_failure: bool = True,
    ) -> pd.DataFrame:
        """Download all files of ``file_types`` of one product into ``path/<product>/``."""
        kinds = file_kinds(file_types)
        tasks = file_tasks(
            [(product.id, {k: _links(getattr(product, k)) for k in kinds})], Path(path), kinds
        )
        return self._download_tasks(tasks, progress=False, raise_on_failure=raise_on_failure)

    def download_file(
        self, product_file: ProductFile, path: str | os.PathLike[str]
    ) -> pd.DataFrame:
        """Download a single product file into the directory ``path``."""
        tasks = file_tasks(
            [("", {"data": _links([product_file])})], Path(path), ["data"], flat=True
        )
        return self._download_tasks(tasks, progress=False)

    def get_product_count(self, collection: str, **kwargs: Any) -> int:
        """Get the count of products matching the query (a single ``count=0`` request)."""
        params = query.product_query(collection, **kwargs)
        return self._pages("products", params, None).count()
