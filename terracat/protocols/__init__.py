"""The catalogue protocols terracat speaks, one subpackage each, behind one interface.

Each protocol encodes a search, walks its answer's pages and turns its products into the
protocol-neutral rows :mod:`terracat.frame` builds frames from. Nothing here imports the facade
(``catalogue``, ``client``, ``accessor``, ``dask``, ``cli``).
"""

from __future__ import annotations

import requests

from terracat.config import CatalogueConfig
from terracat.exceptions import ConfigurationException
from terracat.protocols.base import Backend
from terracat.protocols.opensearch.backend import OpenSearchBackend
from terracat.protocols.stac.backend import StacBackend

__all__ = ["BACKENDS", "Backend", "backend_for"]

BACKENDS: dict[str, type[Backend]] = {
    OpenSearchBackend.name: OpenSearchBackend,
    StacBackend.name: StacBackend,
}
"""The protocols by the name ``[Catalogue] Protocol`` gives them."""


def backend_for(config: CatalogueConfig, session: requests.Session) -> Backend:
    """The backend of the protocol ``config`` names, over ``session``."""
    try:
        backend = BACKENDS[config.protocol]
    except KeyError:
        raise ConfigurationException(
            f"[Catalogue] Protocol = {config.protocol!r} is not a protocol terracat speaks; "
            f"expected one of {sorted(BACKENDS)}."
        ) from None
    return backend(config, session)
