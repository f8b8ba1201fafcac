"""Choosing a STAC catalogue (issue 16): bundled environments, ``Protocol = stac``, and the
protocol read from a landing page by ``Catalogue.from_url``, over HTTP to the local catalogue."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import terracat
from terracat import Catalogue
from terracat.catalogue import catalogue_at, environment_of
from terracat.cli import _catalogue as cli_catalogue
from terracat.config import CatalogueConfig, CatalogueEnvironment
from terracat.discovery import detect_protocol, protocol_of_landing_page
from terracat.exceptions import ConfigurationException
from terracat.server import LocalCatalogue
from tests.hostile import HostileServer, Request, send

NDVI = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"
TERRASCOPE_SSO = "https://sso.terrascope.be/auth/realms/terrascope/protocol/openid-connect"
CDSE_SSO = "https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/openid-connect"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- the bundled environments -----------------------------------------------------------------


def test_terrascope_stac_is_the_stac_api_with_terrascopes_sign_in() -> None:
    config = CatalogueConfig.from_environment(CatalogueEnvironment.TERRASCOPE_STAC)
    terrascope = CatalogueConfig.from_environment(CatalogueEnvironment.TERRASCOPE)
    assert config.catalogue_url == "https://stac.terrascope.be/"
    assert config.protocol == "stac"
    assert config.environment is CatalogueEnvironment.TERRASCOPE_STAC
    assert config.oidc_token_endpoint == f"{TERRASCOPE_SSO}/token"
    for same in (
        "oidc_client_id",
        "oidc_token_endpoint",
        "oidc_authorization_endpoint",
        "oidc_device_authorization_endpoint",
        "oidc_interactive_supported",
        "oidc_non_interactive_supported",
        "s3_endpoint_url",
    ):
        assert getattr(config, same) == getattr(terrascope, same), same
    assert config.token_hosts == ("https://services.terrascope.be/download/",)


def test_cdse_is_the_data_space_with_its_identity_service_and_eodata() -> None:
    config = CatalogueConfig.from_environment(CatalogueEnvironment.CDSE)
    assert config.catalogue_url == "https://stac.dataspace.copernicus.eu/v1/"
    assert config.protocol == "stac"
    assert config.oidc_client_id == "cdse-public" and config.oidc_client_secret == ""
    assert config.oidc_token_endpoint == f"{CDSE_SSO}/token"
    assert config.oidc_authorization_endpoint == f"{CDSE_SSO}/auth"
    assert config.oidc_non_interactive_supported and not config.oidc_interactive_supported
    assert config.token_hosts == (
        "https://download.dataspace.copernicus.eu",
        "https://zipper.dataspace.copernicus.eu",
    )
    assert config.s3_endpoint_url == "https://eodata.dataspace.copernicus.eu"
    assert config.alternates == ("https",)  # its assets' https alternates, for the token


@pytest.mark.parametrize(
    ("environment", "url"),
    [
        (CatalogueEnvironment.TERRASCOPE, "https://services.terrascope.be/catalogue/"),
        (CatalogueEnvironment.HRVPP, "https://phenology.vgt.vito.be/"),
        (CatalogueEnvironment.CGLS, "https://globalland.vito.be/catalogue/"),
    ],
)
def test_the_existing_environments_still_speak_opensearch(environment, url) -> None:
    config = CatalogueConfig.from_environment(environment)
    assert (config.catalogue_url, config.protocol) == (url, "opensearch")


@pytest.mark.parametrize(
    ("url", "environment"),
    [
        ("https://stac.terrascope.be/", CatalogueEnvironment.TERRASCOPE_STAC),
        ("https://stac.terrascope.be", CatalogueEnvironment.TERRASCOPE_STAC),
        ("https://stac.dataspace.copernicus.eu/v1", CatalogueEnvironment.CDSE),
        ("https://STAC.dataspace.copernicus.eu/v1/", CatalogueEnvironment.CDSE),
        ("https://phenology.vgt.vito.be/", CatalogueEnvironment.HRVPP),
        ("https://earth-search.aws.element84.com/v1", CatalogueEnvironment.TERRASCOPE),
    ],
)
def test_a_url_finds_the_bundled_environment_at_it(url, environment) -> None:
    assert environment_of(url) is environment


# --- Protocol in an .ini ----------------------------------------------------------------------


def _ini(tmp_path: Path, catalogue: str) -> Path:
    path = tmp_path / "catalogue.ini"
    path.write_text(f"[Catalogue]\n{catalogue}\n")
    return path


@pytest.mark.parametrize("written", ["stac", "STAC", " Stac "])
def test_an_ini_with_protocol_stac_is_read(tmp_path, written) -> None:
    path = _ini(tmp_path, f"URL = https://stac.example.org/api\nProtocol = {written}")
    config = CatalogueConfig.from_file(path)
    assert (config.catalogue_url, config.protocol) == ("https://stac.example.org/api/", "stac")


def test_an_ini_without_protocol_is_opensearch(tmp_path) -> None:
    config = CatalogueConfig.from_file(_ini(tmp_path, "URL = https://example.org/catalogue"))
    assert config.protocol == "opensearch"


@pytest.mark.parametrize(
    ("written", "alternates"),
    [
        ("", ()),
        ("https", ("https",)),
        (" https, s3 ", ("https", "s3")),
        ("https https", ("https",)),
    ],
)
def test_the_alternate_to_prefer_is_read(tmp_path, written, alternates) -> None:
    path = _ini(tmp_path, f"URL = https://stac.example.org/api\nAlternate = {written}")
    assert CatalogueConfig.from_file(path).alternates == alternates
    assert CatalogueConfig.get_default_config().alternates == ()
    assert CatalogueConfig.from_environment(CatalogueEnvironment.TERRASCOPE_STAC).alternates == ()


def test_a_misspelt_alternate_key_names_the_right_one(tmp_path) -> None:
    path = _ini(tmp_path, "URL = https://stac.example.org/api\nAlternates = https")
    with pytest.raises(ConfigurationException, match=r"did you mean \[Catalogue\] Alternate"):
        CatalogueConfig.from_file(path)


def test_an_unknown_protocol_names_the_key_and_the_choices(tmp_path) -> None:
    path = _ini(tmp_path, "URL = https://example.org/\nProtocol = wfs")
    with pytest.raises(ConfigurationException) as error:
        Catalogue(CatalogueConfig.from_file(path))
    message = str(error.value)
    assert "[Catalogue] Protocol" in message and "'wfs'" in message and "opensearch" in message


def test_config_from_url_sends_nothing_and_takes_a_protocol() -> None:
    nowhere = f"http://127.0.0.1:{_closed_port()}/stac"
    assert CatalogueConfig.from_url(nowhere).protocol == "opensearch"
    config = CatalogueConfig.from_url(nowhere, protocol="stac")
    assert (config.catalogue_url, config.protocol) == (f"{nowhere}/", "stac")
    with pytest.raises(ConfigurationException, match="protocol must be a str"):
        CatalogueConfig.from_url(nowhere, protocol=1)  # type: ignore[arg-type]


# --- the protocol read from the landing page --------------------------------------------------


def test_the_local_catalogues_root_is_opensearch(local_catalogue: LocalCatalogue) -> None:
    catalogue = Catalogue.from_url(local_catalogue.url)
    assert catalogue.config.protocol == "opensearch"
    assert catalogue.config.catalogue_url == local_catalogue.url
    assert catalogue.count(NDVI) == Catalogue(local_catalogue.config()).count(NDVI)


@pytest.mark.parametrize("suffix", ["stac/", "stac"])
def test_the_local_catalogues_stac_face_is_stac(local_catalogue: LocalCatalogue, suffix) -> None:
    config = CatalogueConfig.from_url(local_catalogue.url + suffix)
    assert detect_protocol(config.catalogue_url, config) == "stac"


def test_catalogue_from_url_on_the_stac_face_speaks_stac(local_catalogue: LocalCatalogue) -> None:
    catalogue = Catalogue.from_url(f"{local_catalogue.url}stac/")
    assert catalogue.config.protocol == "stac"
    assert catalogue.backend.name == "stac"


def test_search_takes_a_url_and_asks_its_landing_page_once(
    local_catalogue: LocalCatalogue,
) -> None:
    url = local_catalogue.url
    before = local_catalogue.app.requests.count("/")
    frame = terracat.search(NDVI, catalogue=url, tileId="31UFS", limit=5)
    assert terracat.count(NDVI, catalogue=url, tileId="31UFS") >= len(frame) > 0
    assert catalogue_at(url) is catalogue_at(url)
    assert local_catalogue.app.requests.count("/") - before == 1
    assert frame.attrs["terracat"]["catalogue"] == url


def test_the_cli_url_reads_the_protocol_too(local_catalogue: LocalCatalogue) -> None:
    catalogue = cli_catalogue(None, None, local_catalogue.url)
    assert catalogue.config.protocol == "opensearch"
    assert catalogue.config.environment is CatalogueEnvironment.TERRASCOPE
    config = CatalogueConfig.from_url(f"{local_catalogue.url}stac/")
    assert detect_protocol(config.catalogue_url, config) == "stac"


def test_an_unreachable_url_names_its_host() -> None:
    host = f"127.0.0.1:{_closed_port()}"
    began = time.monotonic()
    with pytest.raises(ConfigurationException) as error:
        Catalogue.from_url(f"http://{host}/stac/")
    assert host in str(error.value) and "cannot be reached" in str(error.value)
    assert time.monotonic() - began < 10


def _stac_config(local: LocalCatalogue) -> CatalogueConfig:
    return CatalogueConfig.from_url(f"{local.url}stac/")


def test_a_landing_page_that_keeps_failing_names_the_host(local_catalogue, faults) -> None:
    faults.set(error_burst=10, routes={"stac"})
    config = _stac_config(local_catalogue)
    with pytest.raises(ConfigurationException) as error:
        detect_protocol(config.catalogue_url, config)
    host = local_catalogue.url.split("/")[2]
    assert host in str(error.value) and "503" in str(error.value)


def test_a_landing_page_failing_once_is_retried(local_catalogue, faults) -> None:
    faults.set(error_burst=1, routes={"stac"})
    config = _stac_config(local_catalogue)
    assert detect_protocol(config.catalogue_url, config) == "stac"


@pytest.mark.parametrize("url", ["ftp://example.org/", "stac.terrascope.be", ""])
def test_a_url_that_is_not_http_fails_before_any_request(url) -> None:
    with pytest.raises(ConfigurationException, match=r"\[Catalogue\] URL"):
        Catalogue.from_url(url)


# --- the landing page rule, a pure function ---------------------------------------------------

_VERSIONS = st.sampled_from(["1.0.0", "1.0.0-rc.1", "1.0.0-beta.5", "1.1.0", "1.0.0-rc.2"])
_OTHER = st.sampled_from(
    [
        "https://api.stacspec.org/v1.0.0/item-search",
        "https://api.stacspec.org/v1.0.0/collections",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
        "https://api.stacspec.org/v0.9.0/core",
        "http://api.stacspec.org/v1.0.0/core",
    ]
)


@given(version=_VERSIONS, others=st.lists(_OTHER, max_size=5), position=st.integers(0, 5))
def test_a_core_class_anywhere_in_conforms_to_is_stac(version, others, position) -> None:
    classes = list(others)
    classes.insert(min(position, len(classes)), f"https://api.stacspec.org/v{version}/core")
    body = orjson.dumps({"type": "Catalogue", "links": [], "conformsTo": classes})
    assert protocol_of_landing_page(body) == "stac"


@given(others=st.lists(_OTHER, max_size=5))
def test_without_a_v1_core_class_it_is_opensearch(others) -> None:
    assert protocol_of_landing_page(orjson.dumps({"conformsTo": others})) == "opensearch"


@given(
    st.binary(max_size=200)
    | st.builds(
        orjson.dumps,
        st.recursive(
            st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=10),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=10), inner, max_size=3)
            ),
            max_leaves=10,
        ),
    )
)
def test_any_other_answer_is_opensearch_and_never_raises(body) -> None:
    assert protocol_of_landing_page(body) in ("opensearch", "stac")
    if b"api.stacspec.org" not in body:
        assert protocol_of_landing_page(body) == "opensearch"


# --- a landing page behind a sign-in ------------------------------------------------------------


def _signing_in(body: bytes = b"", conformance: bytes | None = None):
    """A catalogue whose every page answers 401 (``conformance``: that page answers 200)."""

    def handler(request: Request, connection: socket.socket) -> None:
        if conformance is not None and request.path.endswith("/conformance"):
            send(connection, 200, conformance, {"Content-Type": "application/json"})
            return
        headers = {"WWW-Authenticate": 'Bearer realm="terrascope"', "Content-Type": "text/plain"}
        send(connection, 401, body, headers)

    return HostileServer(handler)


STAC_CLASSES = orjson.dumps({"conformsTo": ["https://api.stacspec.org/v1.0.0/core"]})


@pytest.mark.parametrize(
    ("path", "body", "conformance", "expected"),
    [
        ("/v1/", b'{"code": "Unauthorized", "description": "sign in"}', None, "stac"),
        ("/v1/", b'{"exceptions": [{"exceptionCode": "Unauthorized"}]}', None, "opensearch"),
        ("/v1/", b"denied", STAC_CLASSES, "stac"),
        ("/stac/", b"denied", None, "stac"),
        ("/opensearch/", b"denied", None, "opensearch"),
    ],
    ids=["stac-error", "ogc-error", "public-conformance", "stac-in-path", "opensearch-in-path"],
)
def test_a_protected_landing_page_is_read_from_what_shows(path, body, conformance, expected):
    with _signing_in(body, conformance) as server:
        catalogue = Catalogue.from_url(server.url(path))
        assert catalogue.config.protocol == expected
        assert all("authorization" not in r.headers for r in server.requests)


def test_a_protected_landing_page_that_shows_nothing_asks_for_the_protocol():
    with _signing_in(b"denied") as server:
        url = server.url("/catalogue/")
        with pytest.raises(ConfigurationException) as error:
            Catalogue.from_url(url)
        message = str(error.value)
        assert url in message and "401" in message and "Protocol = stac" in message
        assert [r.path for r in server.requests] == ["/catalogue/", "/catalogue/conformance"]
