"""Downloads of STAC frames (issue 16): their file lists are ordinary ``data``/... columns, so
``df.terracat.download()`` fetches them as it fetches OpenSearch files, the bearer token going
only where the catalogue's token scope allows.

The frames are built from the local catalogue's ``/stac/search`` answer with the STAC decoder
(``decode_stac_page`` + ``FrameBuilder(decoder=StacDecoder())``), as the STAC backend builds them.
"""

from __future__ import annotations

import configparser
import json
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

import geopandas
import pytest
import requests

from terracat import Catalogue
from terracat.auth import TokenScope
from terracat.config import CatalogueConfig, CatalogueEnvironment
from terracat.frame.builder import FrameBuilder
from terracat.protocols.stac import StacDecoder, decode_stac_page
from terracat.server import LocalCatalogue
from terracat.server.content import read

TOC = "terrascope-s2-toc-v2"
REAL = Path("/work/shared/fixtures/real/stac")


def _stac_config(local: LocalCatalogue) -> CatalogueConfig:
    """The local catalogue's configuration (its identity provider) pointing at its STAC face.

    The protocol stays the default one: these tests download, they do not search through the
    backend (which is another branch's), and a download does not depend on the protocol.
    """
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_dict(local.config().config)
    parser.set("Catalogue", "URL", f"{local.url}stac/")
    return CatalogueConfig(parser)


def _frame(local: LocalCatalogue, *, href_mode: str = "", limit: int = 2) -> geopandas.GeoDataFrame:
    answer = requests.get(
        f"{local.url}stac/search", params={"collections": TOC, "limit": limit}, timeout=30
    )
    answer.raise_for_status()
    builder = FrameBuilder(decoder=StacDecoder(href_mode=href_mode), source=answer.url)
    builder.add(decode_stac_page(answer.content).features)
    return builder.build()


@pytest.fixture(scope="module")
def signed(local_catalogue: LocalCatalogue) -> Catalogue:
    return Catalogue(_stac_config(local_catalogue)).authenticate_non_interactive("demo", "demo")


def _served(local: LocalCatalogue, href: str) -> bytes:
    path = "/" + href.split("/", 3)[3]
    return read(path, 0, local.store.files[path].length)


def test_protected_stac_assets_download_with_the_bearer_token(
    local_catalogue, signed, tmp_path
) -> None:
    frame = _frame(local_catalogue, limit=1)
    files = frame.terracat.files("data")
    assert len(files) > 0 and files["href"].str.startswith(f"{local_catalogue.url}download/").all()
    assert TokenScope.of(signed.config).covers(files["href"].iloc[0])
    report = frame.terracat.download(tmp_path, catalogue=signed, progress=False)
    assert (report["status"] == "downloaded").all(), report[["status", "error"]]
    assert len(report) == len(files)
    for row in report.itertuples():
        assert Path(row.path).read_bytes() == _served(local_catalogue, row.href)
    # one directory per item id, files as the assets name them
    assert {p.name for p in tmp_path.iterdir()} == set(frame["id"])
    assert report["bytes"].sum() == files["length"].sum()


def test_a_stac_frame_finds_its_signed_catalogue_from_its_provenance(
    local_catalogue, signed, tmp_path
) -> None:
    frame = _frame(local_catalogue, limit=1)
    frame.attrs["terracat"] = {"catalogue": signed.config.catalogue_url}
    report = frame.terracat.download(tmp_path, progress=False)
    assert (report["status"] == "downloaded").all(), report[["status", "error"]]


def test_without_a_sign_in_protected_assets_fail_and_say_so(local_catalogue, tmp_path) -> None:
    frame = _frame(local_catalogue, limit=1)
    anonymous = Catalogue(_stac_config(local_catalogue))
    report = frame.terracat.download(
        tmp_path, catalogue=anonymous, progress=False, raise_on_failure=False
    )
    assert (report["status"] == "failed").all()
    assert report["error"].str.contains("Sign in first").all()
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_accessed_from_mep_copies_the_local_alternates(local_catalogue, tmp_path) -> None:
    frame = _frame(local_catalogue, href_mode="MEP", limit=1)
    hrefs = frame.terracat.files("data")["href"]
    assert hrefs.str.startswith("file://").all()
    anonymous = Catalogue(_stac_config(local_catalogue))  # local files need no sign-in
    report = frame.terracat.download(tmp_path, catalogue=anonymous, progress=False)
    assert (report["status"] == "downloaded").all(), report[["status", "error"]]
    for row in report.itertuples():
        assert Path(row.path).read_bytes() == Path(unquote(urlsplit(row.href).path)).read_bytes()


def test_the_previews_and_metadata_download_as_their_kinds(local_catalogue, signed, tmp_path):
    frame = _frame(local_catalogue, limit=1)
    report = frame.terracat.download(tmp_path, "all", catalogue=signed, progress=False)
    assert (report["status"] == "downloaded").all(), report[["status", "error"]]
    assert set(report["kind"]) >= {"data"}
    assert set(report["kind"]) <= {"data", "previews", "alternates", "related"}
    assert len(report) == len(frame.terracat.files("all"))


def test_a_second_download_skips_the_complete_files(local_catalogue, signed, tmp_path) -> None:
    frame = _frame(local_catalogue, limit=1)
    frame.terracat.download(tmp_path, catalogue=signed, progress=False)
    again = frame.terracat.download(tmp_path, catalogue=signed, progress=False)
    assert (again["status"] == "skipped").all() and again["bytes"].sum() == 0


# --- where the bundled STAC environments send their token -------------------------------------


def _real_hrefs() -> list[str]:
    hrefs = []
    for path in REAL.glob("*.json"):
        document = json.loads(path.read_text())
        for item in document.get("features", [document]):
            hrefs += [a["href"] for a in item.get("assets", {}).values() if "href" in a]
    return hrefs


def test_terrascope_stac_sends_its_token_to_its_download_service_only() -> None:
    scope = TokenScope.of(CatalogueConfig.from_environment(CatalogueEnvironment.TERRASCOPE_STAC))
    hrefs = [h for h in _real_hrefs() if h.startswith("https://")]
    downloads = [h for h in hrefs if h.startswith("https://services.terrascope.be/download/")]
    assert downloads and all(scope.covers(h) for h in downloads)
    assert scope.covers("https://stac.terrascope.be/search")
    for elsewhere in (
        "https://titiler.terrascope.be/cog/tiles/1/2/3",
        "http://services.terrascope.be/download/x.tif",  # plain http never carries it
        "https://example.org/download/x.tif",
    ):
        assert not scope.covers(elsewhere)


def test_cdse_sends_its_token_to_its_download_services_only() -> None:
    scope = TokenScope.of(CatalogueConfig.from_environment(CatalogueEnvironment.CDSE))
    assert scope.covers("https://download.dataspace.copernicus.eu/odata/v1/Products(x)/$value")
    assert scope.covers("https://zipper.dataspace.copernicus.eu/odata/v1/Products(x)/$value")
    assert not scope.covers("https://eodata.dataspace.copernicus.eu/eodata/Sentinel-2/x")
    assert not scope.covers("https://example.org/x")


def test_the_mep_hrefs_point_at_files_that_exist(local_catalogue) -> None:
    frame = _frame(local_catalogue, href_mode="MEP", limit=1)
    for href in frame.terracat.files("all")["href"]:
        if href.startswith("file://"):
            assert os.path.exists(unquote(urlsplit(href).path)), href


def test_a_stac_search_downloads_with_the_catalogue_that_searched_it(
    local_catalogue, tmp_path
) -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_dict(_stac_config(local_catalogue).config)
    parser.set("Catalogue", "Protocol", "stac")
    catalogue = Catalogue(CatalogueConfig(parser)).authenticate_non_interactive("demo", "demo")
    frame = catalogue.search("urn:eop:VITO:TERRASCOPE_S2_TOC_V2", limit=1)
    report = frame.terracat.download(tmp_path, progress=False)  # no catalogue=: its provenance
    assert len(report) > 0 and (report["status"] == "downloaded").all(), report
