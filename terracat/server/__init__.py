"""The local catalogue: a real HTTP server speaking Terrascope's OpenSearch protocol and STAC.

It is the test bed of every client behaviour, the engine of the offline demo and a way to serve
a GeoParquet export as a catalogue. Start it in-process (tests, demo, benchmarks)::

    with LocalCatalogue() as local:
        terracat.search("urn:eop:VITO:TERRASCOPE_S2_NDVI_V2", catalogue=terracat.Catalogue(local.config()))

or from a shell with ``terracat serve --demo``.

One store (``store``: collections, products, files, their indexes; ``demo``: the generated one),
faces over it (``opensearch``: the OGC 17-047r1 pages; ``stac``: the STAC API under ``/stac/``,
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
            },
        }
        copy = configparser.ConfigParser()
        copy.read_dict(parser)
        copy.read_dict(overrides)
        return CatalogueConfig(copy)
