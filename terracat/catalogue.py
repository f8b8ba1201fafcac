"""The catalogue connection: the facade over one catalogue, its session and its sign-in.

``Catalogue`` keeps the reference client's methods and signatures (their search filters come
from :data:`terracat.request.FILTERS`); its searches run through the same layers as
:func:`terracat.search` (request -> protocol -> frame) and its views are made from frame rows
(:mod:`terracat.products`). The accessor, :mod:`terracat.dask` and the CLI use its public
members (:meth:`Catalogue.download_tasks`, :meth:`Catalogue.sign_in_with`, :attr:`Catalogue.signer`,
:func:`catalogue_for`, :func:`default_catalogue`), never its private ones.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import geopandas
import pandas as pd

from terracat._http import make_session
from terracat.auth import TokenCache, cache_key, sign_in
from terracat.config import (
    CatalogueConfig,
    CatalogueEnvironment,
    environment_at,
    url_from_environment,
)
from terracat.discovery import detect_protocol
from terracat.exceptions import (
    AuthenticationException,
    ConfigurationException,
    ParameterParserException,
)
from terracat.products import (
    Collection,
    Product,
    ProductFile,
    ProductFileType,
    collection_from_row,
    file_kinds,
    links_of,
    product_from_row,
    rows,
)
from terracat.protocols import Backend, backend_for
from terracat.request import SearchRequest, filter_parameters
from terracat.signin_discovery import find_identity_provider
from terracat.transfer import FileTask, Transport, download, file_tasks, human_size

__all__ = [
    "Catalogue",
    "catalogue_at",
    "catalogue_for",
    "default_catalogue",
    "environment_of",
    "set_default",
]

logger = logging.getLogger(__name__)


_live: dict[str, weakref.ref[Catalogue]] = {}
_live_lock = threading.Lock()


def catalogue_for(url: str | None, client: str | None = None) -> Catalogue:
    """The catalogue a frame came from.

    The very ``Catalogue`` that searched it while it lives (its sign-in included), else the one
    that last searched the same URL, else a new one for that URL (the default for Terrascope).
    """
    for key in (client, url):
        if key:
            with _live_lock:
                found = _live.get(key)
            catalogue = found() if found is not None else None
            if catalogue is not None:
                return catalogue
    if url and url != default_catalogue().config.catalogue_url:
        # the bundled environment at that URL signs in as it does (CDSE, Terrascope STAC);
        # any other URL signs in where its catalogue says
        return Catalogue(CatalogueConfig.from_url(url, environment_of(url)))
    return default_catalogue()


_at_url: dict[str, Catalogue] = {}
_at_url_lock = threading.Lock()


def catalogue_at(url: str) -> Catalogue:
    """The catalogue at ``url`` as :meth:`Catalogue.from_url` finds it, made once per URL.

    ``terracat.search(..., catalogue="https://...")`` in a loop then asks the landing page once,
    and keeps one session (and one sign-in) per URL.
    """
    with _at_url_lock:
        found = _at_url.get(url)
    if found is not None:
        return found
    made = Catalogue.from_url(url)
    with _at_url_lock:
        return _at_url.setdefault(url, made)


def environment_of(url: str) -> CatalogueEnvironment:
    """The bundled environment whose catalogue is at ``url`` (its sign-in and transfers), else
    ``TERRASCOPE`` for its transfer settings, as :meth:`CatalogueConfig.from_url` assumes (a
    catalogue elsewhere never gets Terrascope's sign-in)."""
    return environment_at(url) or CatalogueEnvironment.TERRASCOPE


_default: Catalogue | None = None
_default_lock = threading.Lock()


def default_catalogue(catalogue: Catalogue | None = None) -> Catalogue:
    """``catalogue``, or the default one, created once and reused: the one given to
    :func:`set_default`, else the one at ``$TERRACAT_URL``, else Terrascope's."""
    global _default
    if catalogue is not None:
        return catalogue
    with _default_lock:
        if _default is None:
            url = url_from_environment()
            _default = Catalogue.from_url(url) if url else Catalogue()
        return _default


def set_default(catalogue: Catalogue | None) -> None:
    """Make ``catalogue`` the default (``None``: back to ``$TERRACAT_URL`` or Terrascope)."""
    global _default
    with _default_lock:
        _default = catalogue


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
        self.backend: Backend = backend_for(self.config, self._session)
        """The protocol this catalogue speaks (``[Catalogue] Protocol``), over its session."""
        self._downloads: Any = None
        with _live_lock:
            _live[self.config.catalogue_url] = weakref.ref(self)

    @classmethod
    def from_url(
        cls,
        url: str,
        environment: CatalogueEnvironment | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
    ) -> Catalogue:
        """A catalogue for ``url``, speaking the protocol its landing page announces.

        One GET of ``url`` (bounded by ``[HTTP] SearchTimeout``): a STAC API landing page (its
        ``conformsTo`` holds an ``https://api.stacspec.org/v1.*/core`` class) gives the STAC
        protocol, anything else OpenSearch; a ``path`` file that says ``[Catalogue] Protocol``
        is believed instead. The other values (transfers) are those of ``environment``, by
        default of the bundled environment at that URL (``https://stac.terrascope.be/`` is
        ``TERRASCOPE_STAC``), else of ``TERRASCOPE``, overridden by the ``path`` file. The
        environment's sign-in comes only with its own catalogue: another one signs in as the
        file says, else where the catalogue announces it (looked for at the first sign-in).
        :meth:`CatalogueConfig.from_url` builds the configuration without any request.

        Raises
        ------
        ConfigurationException
            when ``url`` is not an http(s) URL, its host cannot be reached or fails (5xx), or
            the file cannot be used

        Examples
        --------
        >>> catalogue = Catalogue.from_url("https://stac.terrascope.be/")  # doctest: +SKIP
        >>> catalogue.config.protocol  # doctest: +SKIP
        'stac'
        """
        chosen = environment if environment is not None else environment_of(url)
        # the URL and the file are checked before any request
        checked = CatalogueConfig.from_url(url, chosen, path=path)
        origins = getattr(checked.config, "origins", {})
        if path is not None and origins.get(("Catalogue", "protocol")) == os.fspath(path):
            return cls(checked)
        # the landing page as the user wrote it: some STAC APIs answer 404 for ``/v1/``
        protocol = detect_protocol(url.strip(), checked)
        return cls(CatalogueConfig.from_url(url, chosen, protocol=protocol, path=path))

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
        signed = ", signed in" if self.signer is not None else ""
        return f"Catalogue({self.config.catalogue_url!r}{signed})"

    # ---- signing in ----------------------------------------------------------------------------

    @property
    def signer(self) -> Any:
        """What signs this catalogue's requests (``BearerAuth``), ``None`` when anonymous."""
        return self._auth

    def sign_in_with(self, auth: Any) -> Catalogue:
        """Sign every request of this catalogue with ``auth`` (``None``: anonymous again).

        The sign-in methods call it; so does a Dask worker given a token it cannot renew.
        """
        self._auth = auth
        self._session.auth = auth
        if self._downloads is not None:
            self._downloads.auth = auth
        return self

    def _cache(self, cache: bool) -> TokenCache | None:
        return TokenCache(self.config.token_cache_path) if cache else None

    def _identity(self) -> CatalogueConfig:
        """The configuration to sign in with: for a catalogue other than an environment's own
        and no identity provider configured, the one the catalogue announces (asked once)."""
        self.config = find_identity_provider(self.config, self._session)
        return self.config

    def authenticate(
        self, *, browser: Any = None, cache: bool = False, timeout: float = 300.0
    ) -> Catalogue:
        """Authenticate to the catalogue in an interactive way: a browser window opens to sign in.

        The authorization code flow with PKCE, the answer caught on a loopback port.
        ``browser`` opens the sign-in URL (``webbrowser.open`` by default); ``cache=True`` keeps
        the refresh token on disk (owner-only) and reuses it while it is valid.
        """
        auth = sign_in(
            self._identity(),
            self._session,
            "interactive",
            browser=browser,
            cache=self._cache(cache),
            reuse=cache,
            timeout=timeout,
        )
        return self.sign_in_with(auth)

    def authenticate_non_interactive(
        self, username: str, password: str, *, cache: bool = False
    ) -> Catalogue:
        """Authenticate to the catalogue in a non-interactive way, with user credentials.

        The password grant; the password is sent to the identity provider only, never kept.
        ``cache=True`` keeps the resulting refresh token on disk for :func:`terracat.login`.
        """
        auth = sign_in(
            self._identity(),
            self._session,
            "password",
            username=username,
            password=password,
            cache=self._cache(cache),
        )
        return self.sign_in_with(auth)

    def authenticate_device(
        self, *, notify: Any = None, cache: bool = False, timeout: float = 600.0
    ) -> Catalogue:
        """Authenticate on a machine without a browser (notebook servers, clusters).

        The device authorization grant: ``notify(uri, code)`` (by default, a line on stderr)
        tells the user where to confirm the code from another device; this call returns once
        they have.
        """
        auth = sign_in(
            self._identity(),
            self._session,
            "device",
            notify=notify,
            cache=self._cache(cache),
            reuse=cache,
            timeout=timeout,
        )
        return self.sign_in_with(auth)

    def logout(self, *, cache: bool = True) -> None:
        """Forget the sign-in (and, with ``cache``, its cached token)."""
        self.sign_in_with(None)
        if cache:
            try:
                config = self._identity()
            except (ConfigurationException, AuthenticationException):  # nothing could be cached
                return
            TokenCache(config.token_cache_path).save(cache_key(config), None)

    # ---- frames ------------------------------------------------------------------------------

    def _frame(self, request: SearchRequest, *, split: bool = False) -> geopandas.GeoDataFrame:
        """The backend's frame, with its provenance: which catalogue (and which ``Catalogue``,
        for its sign-in) and how it was asked, so that its downloads find their way back."""
        frame = self.backend.search(request, split=split)
        client = f"{id(self):x}"
        with _live_lock:
            _live[self.config.catalogue_url] = _live[client] = weakref.ref(self)
        frame.attrs["terracat"] = {
            "catalogue": self.config.catalogue_url,
            "client": client,
            **self.backend.provenance(request),
        }
        return frame

    @filter_parameters("products", before="limit")
    def search(
        self, collection: str, limit: int | None = None, *, split: bool = False, **kwargs: Any
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
        if not isinstance(split, bool):  # split="false" would split: a non-empty string is true
            raise ParameterParserException(
                f"split must be True or False, not {split!r} ({type(split).__name__})"
            )
        return self._frame(
            SearchRequest.for_products(collection, limit=limit, **kwargs), split=split
        )

    @filter_parameters("collections")
    def collections(self, **kwargs: Any) -> geopandas.GeoDataFrame:
        """The catalogue's collections as a GeoDataFrame, one row per collection."""
        return self._frame(SearchRequest.for_collections(**kwargs))

    def count(self, collection: str, **kwargs: Any) -> int:
        """The number of products matching the query (one ``count=0`` request)."""
        return self.get_product_count(collection, **kwargs)

    # ---- the reference API ---------------------------------------------------------------------

    @filter_parameters("collections")
    def get_collections(self, **kwargs: Any) -> Iterator[Collection]:
        """Get the collections in the catalogue, lazily (nothing is requested before iteration)."""
        return self._views(SearchRequest.for_collections(**kwargs), collection_from_row)

    @filter_parameters("products", before="limit")
    def get_products(
        self, collection: str, limit: int | None = None, **kwargs: Any
    ) -> Iterator[Product]:
        """Get the products matching the query, lazily and page by page.

        Nothing is requested until the first product is asked for; ``TooManyResultsException``
        is raised then when the result is deeper than the catalogue lets a client page.
        Parameters are read as :class:`terracat.request.SearchRequest` reads them.
        """
        request = SearchRequest.for_products(collection, limit=limit, **kwargs)
        return self._views(request, product_from_row)

    def _views(self, request: SearchRequest, view: Any) -> Iterator[Any]:
        for frame in self.backend.frames(request):
            yield from map(view, rows(frame))

    # ---- downloads ----------------------------------------------------------------------------

    def _download_session(self) -> Any:
        if self._downloads is None:
            self._downloads = make_session(self.config, pool_size=self.config.download_workers)
            self._downloads.auth = self._auth
        return self._downloads

    def download_tasks(
        self,
        tasks: list[FileTask],
        *,
        workers: int | None = None,
        progress: bool = True,
        overwrite: bool = False,
        raise_on_failure: bool = True,
        link: bool = False,
        on_row: Callable[[int, dict[str, Any]], None] | None = None,
    ) -> pd.DataFrame:
        """Run the downloader over ``tasks``; the engine of every download method (and of the
        accessor's, Dask's and a sync's downloads; ``on_row`` as :func:`transfer.download`)."""
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
                on_row=on_row,
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
            [
                (p.id, {kind: links_of(getattr(p, kind)) for kind in kinds}, p.geojson)
                for p in products
            ],
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
        return self.download_tasks(tasks, raise_on_failure=raise_on_failure)

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
            [(product.id, {k: links_of(getattr(product, k)) for k in kinds}, product.geojson)],
            Path(path),
            kinds,
        )
        return self.download_tasks(tasks, progress=False, raise_on_failure=raise_on_failure)

    def download_file(
        self, product_file: ProductFile, path: str | os.PathLike[str]
    ) -> pd.DataFrame:
        """Download a single product file into the directory ``path``."""
        tasks = file_tasks(
            [("", {"data": links_of([product_file])})], Path(path), ["data"], flat=True
        )
        return self.download_tasks(tasks, progress=False)

    def get_product_count(self, collection: str, **kwargs: Any) -> int:
        """Get the count of products matching the query (a single ``count=0`` request)."""
        return self.backend.count(SearchRequest.for_products(collection, **kwargs))
