"""Where a STAC API's landing page is: ``Catalogue.from_url`` and the backend look for it by one
rule (``terracat.discovery.landing_urls``): the URL as written, then with the other trailing
slash, then ``<url>/conformance``; only a 404 moves on. Some STAC APIs answer ``/v1`` and 404 on
``/v1/`` (the Data Space's bundled URL is ``.../v1``), others the reverse.
"""

from __future__ import annotations

import pytest

import terracat
from terracat.exceptions import SearchException
from terracat.server import LocalCatalogue
from tests.hostile import Request
from tests.protocols.stac.proxy import Proxy

NDVI_URN = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"
WINDOW = {"start": "2021-07-01", "end": "2021-07-10", "tileId": "31UFS"}
NOT_FOUND = b'{"detail": "Not Found"}'


def _absent(*paths: str):
    """A rewrite answering 404 for these paths, as a server that does not route them."""

    def rewrite(request: Request) -> tuple[int, bytes] | None:
        return (404, NOT_FOUND) if request.path in paths else None

    return rewrite


def _expected(local: LocalCatalogue) -> list[str]:
    config = local.config()
    config.catalogue_url, config.protocol = local.url + "stac/", "stac"
    return list(terracat.Catalogue(config).search(NDVI_URN, **WINDOW)["id"])


def _configured(local: LocalCatalogue, url: str) -> terracat.Catalogue:
    config = local.config()
    config.catalogue_url, config.protocol = url, "stac"
    return terracat.Catalogue(config)


@pytest.mark.parametrize("written", ["/stac", "/stac/"])
def test_a_landing_page_only_without_the_slash_is_found_both_ways(local_catalogue, written):
    expected = _expected(local_catalogue)
    with Proxy(local_catalogue.url, _absent("/stac/")) as proxy:
        found = terracat.Catalogue.from_url(proxy.url(written))
        assert found.config.protocol == "stac"
        assert list(found.search(NDVI_URN, **WINDOW)["id"]) == expected and expected
        # a configuration (its URL always ends in /) finds it too
        configured = _configured(local_catalogue, proxy.url("/stac/"))
        assert list(configured.search(NDVI_URN, **WINDOW)["id"]) == expected
        landing = [r.path for r in proxy.requests if r.path in ("/stac", "/stac/")]
        assert landing.count("/stac") >= 2  # from_url's and the backends'


def test_a_landing_page_only_with_the_slash_is_found_from_a_url_without_it(local_catalogue):
    with Proxy(local_catalogue.url, _absent("/stac")) as proxy:
        found = terracat.Catalogue.from_url(proxy.url("/stac"))
        assert found.config.protocol == "stac"
        assert len(found.search(NDVI_URN, **WINDOW))


def test_a_conformance_document_is_enough(local_catalogue):
    expected = _expected(local_catalogue)
    with Proxy(local_catalogue.url, _absent("/stac", "/stac/")) as proxy:
        found = terracat.Catalogue.from_url(proxy.url("/stac"))
        assert found.config.protocol == "stac"
        assert list(found.search(NDVI_URN, **WINDOW)["id"]) == expected
        assert "/stac/conformance" in {r.path for r in proxy.requests}


def test_without_any_landing_page_the_search_names_every_place_asked(local_catalogue):
    with Proxy(local_catalogue.url, _absent("/stac", "/stac/", "/stac/conformance")) as proxy:
        assert terracat.Catalogue.from_url(proxy.url("/stac")).config.protocol == "opensearch"
        catalogue = _configured(local_catalogue, proxy.url("/stac/"))
        with pytest.raises(SearchException, match="no landing page") as raised:
            catalogue.search(NDVI_URN, **WINDOW)
        asked = ", ".join(proxy.url(p) for p in ("/stac/", "/stac", "/stac/conformance"))
        assert asked in str(raised.value) and "[Catalogue] URL" in str(raised.value)
