"""The local catalogue: a real HTTP server speaking Terrascope's OpenSearch protocol and STAC.

It is the test bed of every client behaviour, the engine of the offline demo and a way to serve
a GeoParquet export as a catalogue. Start it in-process (tests, demo, benchmarks)::

    with LocalCatalogue() as local:
        terracat.search("urn:eop:VITO:TERRASCOPE_S2_NDVI_V2", catalogue=terracat.Catalogue(local.config()))

or from a shell with ``terracat serve --demo``.

One store (``store``: collections, products, files, their indexes; ``demo``: the generated one;
``changes``: products added, reprocessed and removed while it serves), faces over it (``opensearch``: the OGC 17-047r1 pages; ``stac``: the STAC API under ``/stac/``,
its parameters in ``stac_search``, its items from ``stac_items``), the identity provider (``idp``, with its
routes in ``idp_routes``), fault injection (``faults``) and the deterministic file bytes
(``content``), put together as one WSGI application by ``app``.
"""

from __future__ import annotations

import configparser
import logging
import shutil
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from terracat.server.app import CatalogueApp
from terracat.server.changes import Changes
from terracat.server.demo import DEFAULT_SIZE_SCALE, build_demo_collections
from terracat.server.faults import FaultPlan, Faults
from terracat.server.idp import CLIENT_ID, IdentityProvider
from terracat.server.settings import Settings
from terracat.server.store import CollectionEntry, Store, load_parquet_store

if TYPE_CHECKING:
    from terracat.config import CatalogueConfig

__all__ = [
    "CollectionEntry",
    "FaultPlan",
    "LocalCatalogue",
    "Settings",
    "build_demo_collections",
    "load_parquet_store",
]

logger = logging.getLogger(__name__)


class _QuietHandler(WSGIRequestHandler):
    """werkzeug's handler, logging through ``logging`` at debug level instead of stderr."""

    def log(self, type: str, message: str, *args: Any) -> None:
        logger.debug("%s " + message, self.address_string(), *args)


class LocalCatalogue:
    """A local catalogue on a loopback port, served from a background thread.

    Parameters
    ----------
    collections :
        what to serve; the deterministic demo store when ``None``
    host, port :
        where to listen; port 0 picks a free ephemeral port
    settings :
        paging limits, the MEP files directory and the S3 bucket name
    faults :
        the initial fault plan (none by default); change it live through ``self.faults``
    users, access_lifetime, refresh_lifetime :
        the identity provider's accounts and token lifetimes in seconds
    size_scale :
        the demo store's file size factor (ignored when ``collections`` is given)
    """

    def __init__(
        self,
        collections: Iterable[CollectionEntry] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        settings: Settings | None = None,
        faults: FaultPlan | None = None,
        users: dict[str, str] | None = None,
        access_lifetime: int = 300,
        refresh_lifetime: int = 1800,
        size_scale: float = DEFAULT_SIZE_SCALE,
    ) -> None:
        if collections is None:
            collections = build_demo_collections(size_scale)
        self.settings = settings or Settings()
        self._own_files_dir = self.settings.files_dir is None
        if self._own_files_dir:
            self.settings.files_dir = Path(tempfile.mkdtemp(prefix="terracat-mep-"))
        self.store = Store(collections)
        self.faults = Faults(faults)
        self.idp = IdentityProvider(
            users, access_lifetime=access_lifetime, refresh_lifetime=refresh_lifetime
        )
        self.app = CatalogueApp(self.store, self.settings, self.faults, self.idp)
        self.changes = Changes(self.app)
        self._host, self._port = host, port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The catalogue's base URL, ending in ``/``."""
        if self._server is None:
            raise RuntimeError("the local catalogue is not running; call start() first")
        host = self._host if ":" not in self._host else f"[{self._host}]"
        return f"http://{host}:{self._server.server_port}/"

    def start(self) -> LocalCatalogue:
        if self._server is None:
            self._server = make_server(
                self._host, self._port, self.app, threaded=True, request_handler=_QuietHandler
            )
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="terracat-local-catalogue", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._own_files_dir and self.settings.files_dir is not None:
            shutil.rmtree(self.settings.files_dir, ignore_errors=True)

    def __enter__(self) -> LocalCatalogue:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- changes while serving (terracat.server.changes) ----------------------------------------

    def add_product(
        self, collection: str, *, like: str, id: str, updated: str | None = None
    ) -> dict[str, Any]:
        """Add a copy of product ``like`` under the new ``id``, as a catalogue publishes one.

        Its files are new paths (the copied product's name in them replaced by the new one, or
        the new name put before the file name), so they have their own bytes; ``published``
        and ``updated`` are now (see :class:`terracat.server.changes.Clock`). It is listed right
        after ``like``, whose acquisition it shares, and both faces find it at once.

        Parameters
        ----------
        collection :
            the collection's id (or its STAC id)
        like :
            the product copied: its id or its item id (the id's last ``:`` part)
        id :
            the new product's id; without a ``:``, its item id, put in place of the last part of
            ``like``'s id
        updated :
            its ``published`` and ``updated`` (ISO 8601) instead of now: a product a catalogue
            indexed long after it was made (a sync's modification window cannot see it)

        Returns
        -------
        dict
            the stored feature (OpenSearch shape, as in ``store.collections[c].products``), a copy

        Raises
        ------
        KeyError
            for an unknown collection or product, naming it
        ValueError
            for an id the collection has already, or one unfit for file names

        Examples
        --------
        >>> s1 = "urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1"
        >>> with LocalCatalogue(size_scale=1e-3) as local:
        ...     first = local.store.collections[s1].products[0]
        ...     new = local.add_product(s1, like=first["id"], id="S1A_NEW_V110")
        >>> new["id"]
        'urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1:S1A_NEW_V110'
        """
        return self.changes.add_product(collection, like=like, id=id, updated=updated)

    def reprocess_product(
        self,
        collection: str,
        product_id: str,
        files: Iterable[str] | None = None,
        *,
        rename: bool = False,
    ) -> dict[str, Any]:
        """Reprocess a product: a new ``updated`` and new bytes for some of its files.

        ``updated`` becomes now, and strictly later than it was. The files named get a new
        content revision: the same length, other bytes (``FileEntry.read`` and
        ``content.read(path, start, stop, revision)`` give them). With ``rename`` they get new
        names instead, a ``_R<n>`` inserted before the extension (``_R2``, then ``_R3`` ...), and
        the old names are served no more.

        Parameters
        ----------
        collection :
            the collection's id (or its STAC id)
        product_id :
            the product's id or its item id
        files :
            file names (an href's last path segment); its first ``data`` file when ``None``
        rename :
            give the files new names rather than new bytes

        Returns
        -------
        dict
            the stored feature, a copy

        Raises
        ------
        KeyError
            for an unknown collection, product or file name, naming it
        """
        return self.changes.reprocess_product(collection, product_id, files, rename=rename)

    def remove_product(self, collection: str, product_id: str) -> None:
        """Withdraw a product: both faces stop finding it, and its files are answered 404 (and
        leave the MEP directory).

        Raises
        ------
        KeyError
            for an unknown collection or product, naming it
        """
        self.changes.remove_product(collection, product_id)

    def config(self) -> CatalogueConfig:
        """A client configuration pointing at this catalogue and its identity provider."""
        from terracat.config import CatalogueConfig, CatalogueEnvironment

        parser = CatalogueConfig.from_environment(CatalogueEnvironment.TERRASCOPE).config
        oidc = f"{self.url}auth/realms/{self.settings.realm}/protocol/openid-connect"
        overrides = {
            "Catalogue": {"URL": self.url},
            "Auth": {
                "ClientId": CLIENT_ID,
                "ClientSecret": "",
                "TokenEndpoint": f"{oidc}/token",
                "AuthorizationEndpoint": f"{oidc}/auth",
                "DeviceAuthorizationEndpoint": f"{oidc}/auth/device",
                # its tokens are its own: none to Terrascope's download service
                "TokenHosts": "",
            },
        }
        copy = configparser.ConfigParser()
        copy.read_dict(parser)
        copy.read_dict(overrides)
        return CatalogueConfig(copy)
