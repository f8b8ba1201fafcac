"""The interface between the facade and a catalogue protocol.

The facade (:mod:`terracat.catalogue`), the accessor, :mod:`terracat.dask` and the CLI talk to a
:class:`Backend` only; each protocol (``protocols/opensearch/``, and next ``protocols/stac/``)
implements it over its own encoding, paging and rows, and hands the frame builder a
:class:`~terracat.frame.builder.Decoder` for its products. The modelled cut is xarray's backend
entry points: the core never imports a protocol's modules, it asks the registry
(:func:`terracat.protocols.backend_for`) for the configured one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import geopandas
import requests

from terracat.config import CatalogueConfig
from terracat.frame.builder import DecodedRows, Decoder, Decoding, Feature
from terracat.request import SearchRequest

__all__ = ["Backend", "DecodedRows", "Decoder", "Decoding", "Feature", "Partition"]


class Partition(Protocol):
    """A share of a search a Dask worker fetches on its own (a time window, say).

    Partitions may overlap at their bounds; each *owns* the products whose acquisition begins in
    it, so that their union holds every product of the search exactly once. A partition is
    pickled to the worker: plain data only.
    """

    total: int

    def owns(self, begin: Any) -> Any:
        """Which products (a Series of acquisition start times) this partition owns."""
        ...


class Backend(Protocol):
    """One catalogue protocol over one configuration and one session (with its sign-in).

    Every search takes a checked :class:`~terracat.request.SearchRequest`; a product search has a
    ``collection``, a search of collections has none. Frames follow the column contract of
    :mod:`terracat.frame.contract` whatever the protocol.
    """

    name: str
    """The protocol's name, as ``[Catalogue] Protocol`` spells it."""

    def __init__(self, config: CatalogueConfig, session: requests.Session) -> None: ...

    def search(self, request: SearchRequest, *, split: bool = False) -> geopandas.GeoDataFrame:
        """The whole result as one frame; ``split`` fetches a result deeper than the catalogue
        pages through in pieces that each fit."""
        ...

    def frames(self, request: SearchRequest) -> Iterator[geopandas.GeoDataFrame]:
        """The result lazily, a page-sized frame at a time: nothing is asked before the first."""
        ...

    def count(self, request: SearchRequest) -> int:
        """How many products the search matches, without fetching them."""
        ...

    def provenance(self, request: SearchRequest) -> dict[str, Any]:
        """How the search was asked (JSON-safe), kept in the frame's ``attrs``."""
        ...

    def partitions(
        self, request: SearchRequest, most: int
    ) -> tuple[geopandas.GeoDataFrame, list[Partition]]:
        """The empty frame of the result's columns, and partitions of at most ``most`` products."""
        ...

    def partition(self, part: Partition) -> geopandas.GeoDataFrame:
        """The products of one partition (all it holds; :meth:`Partition.owns` says which are its)."""
        ...
