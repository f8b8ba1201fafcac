"""terracat: Earth-observation product catalogues (Terrascope, HR-VPP, CGLS) as GeoDataFrames.

>>> import terracat
>>> df = terracat.search("urn:eop:VITO:TERRASCOPE_S2_TOC_V2", start="2022-02-01",
...                      end="2022-03-01", bbox=[4.1, 50.0, 5.5, 51.0])  # doctest: +SKIP
>>> df.query("cloudCover < 10").to_parquet("clear.parquet")  # doctest: +SKIP
"""

from __future__ import annotations

from terracat import accessor as _accessor  # noqa: F401 - registers df.terracat
from terracat._api import (
    collections,
    count,
    login,
    read_parquet,
    search,
    set_default_catalogue,
)
from terracat.catalogue import Catalogue
from terracat.config import CatalogueConfig, CatalogueEnvironment
from terracat.exceptions import (
    AuthenticationException,
    ConfigurationException,
    ParameterParserException,
    ProductDownloadException,
    SearchException,
    SyncIncomplete,
    TerracatError,
    TerracatWarning,
    TooManyResultsException,
)
from terracat.mirroring import SyncReport, sync
from terracat.products import Collection, Product, ProductFile, ProductFileType

__all__ = [
    "AuthenticationException",
    "Catalogue",
    "CatalogueConfig",
    "CatalogueEnvironment",
    "Collection",
    "ConfigurationException",
    "ParameterParserException",
    "Product",
    "ProductDownloadException",
    "ProductFile",
    "ProductFileType",
    "SearchException",
    "SyncIncomplete",
    "SyncReport",
    "TerracatError",
    "TerracatWarning",
    "TooManyResultsException",
    "collections",
    "count",
    "login",
    "read_parquet",
    "search",
    "set_default_catalogue",
    "sync",
]

__version__ = "0.2.0"
