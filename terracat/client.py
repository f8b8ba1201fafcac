"""The reference client's documented module: the catalogue connection and its object API.

``terracatalogueclient.client`` is where the reference documents ``Catalogue``, ``Collection``,
``Product``, ``ProductFile`` and ``ProductFileType``; terracat keeps that address for code and
documentation written against it. The classes live in :mod:`terracat.catalogue` (the facade)
and :mod:`terracat.products` (the row views).
"""

from __future__ import annotations

from terracat.catalogue import Catalogue
from terracat.products import Collection, Product, ProductFile, ProductFileType

__all__ = ["Catalogue", "Collection", "Product", "ProductFile", "ProductFileType"]
