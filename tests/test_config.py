"""Specification of terracat.config: the reference's configuration, checked and explained."""

from __future__ import annotations

import configparser
import textwrap
from pathlib import Path

import pytest

from terracat import _defaults
from terracat.config import CatalogueConfig, CatalogueEnvironment
from terracat.config import _bundled_text as bundled_text
from terracat.exceptions import ConfigurationException

HRVPP_SECRET = "tpyvaPI3RwilbPYg7Eg3OT1SLMIa"


@pytest.fixture(autouse=True)
def _no_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys in the developer's shell must not leak into what these tests see."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)


def write_ini(tmp_path: Path, text: str, name: str = "catalogue.ini") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --- the environments -------------------------------------------------------------------------


def test_environment_values_are_the_reference_file_names() -> None:
    assert {e.name: e.value for e in CatalogueEnvironment} == {
        "TERRASCOPE": "terrascope.ini",
        "HRVPP": "hrvpp.ini",
        "CGLS": "cgls.ini",
        # issue 16: the STAC catalogues (their values: tests/test_stac_config.py)
        "TERRASCOPE_STAC": "terrascope_stac.ini",
        "CDSE": "cdse.ini",
    }


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        (
            CatalogueEnvironment.TERRASCOPE,
            {
                "catalogue_url": "https://services.terrascope.be/catalogue/",
                "oidc_client_id": "terracatalogueclient",
                "oidc_client_secret": "",
                "oidc_token_endpoint": "https://sso.terrascope.be/auth/realms/terrascope"
                "/protocol/openid-connect/token",
                "oidc_authorization_endpoint": "https://sso.terrascope.be/auth/realms/terrascope"
                "/protocol/openid-connect/auth",
                "oidc_device_authorization_endpoint": "https://sso.terrascope.be/auth/realms"
                "/terrascope/protocol/openid-connect/auth/device",
                "oidc_interactive_supported": True,
                "oidc_non_interactive_supported": True,
                "http_download_chunk_size": 2097152,
                "s3_endpoint_url": "",
                "s3_access_key": "",
                "s3_secret_key": "",
            },
        ),
        (
            CatalogueEnvironment.HRVPP,
            {
                "catalogue_url": "https://phenology.vgt.vito.be/",
                "oidc_client_id": "DBSbbGec90gpkNXT0NbyFW4vIaAa",
                "oidc_client_secret": HRVPP_SECRET,
                "oidc_token_endpoint": "https://identity.prod.wekeo2.eu/oauth2/token",
                "oidc_authorization_endpoint": "https://identity.prod.wekeo2.eu/oauth2/authorize",
                "oidc_device_authorization_endpoint": "",
                "oidc_interactive_supported": False,
                "oidc_non_interactive_supported": True,
                "http_download_chunk_size": 2097152,
                "s3_endpoint_url": "http://data.cloudferro.com",
                "s3_access_key": "",
                "s3_secret_key": "",
            },
        ),
        (
            CatalogueEnvironment.CGLS,
            {
                "catalogue_url": "https://globalland.vito.be/catalogue/",
                "oidc_client_id": "",
                "oidc_client_secret": "",
                "oidc_token_endpoint": "",
                "oidc_authorization_endpoint": "",
                "oidc_device_authorization_endpoint": "",
                "oidc_interactive_supported": False,
                "oidc_non_interactive_supported": False,
                "http_download_chunk_size": 2097152,
                "s3_endpoint_url": "",
                "s3_access_key": "",
                "s3_secret_key": "",
            },
        ),
    ],
    ids=lambda value: value.name if isinstance(value, CatalogueEnvironment) else "",
)
def test_bundled_environment_loads_its_real_endpoints(
    environment: CatalogueEnvironment, expected: dict[str, object]
) -> None:
    config = CatalogueConfig.from_environment(environment)
    assert {name: getattr(config, name) for name in expected} == expected
    assert config.environment is environment
    assert isinstance(config.config, configparser.ConfigParser)


@pytest.mark.parametrize("environment", list(CatalogueEnvironment))
def test_optional_http_keys_default_to_the_named_constants(
    environment: CatalogueEnvironment,
) -> None:
    config = CatalogueConfig.from_environment(environment)
    assert config.search_timeout == _defaults.SEARCH_TIMEOUT
    assert config.download_timeout == _defaults.DOWNLOAD_TIMEOUT
    assert config.retries == _defaults.RETRIES
    assert config.page_size == _defaults.PAGE_SIZE
    assert config.search_workers == _defaults.SEARCH_WORKERS
    assert config.download_workers == _defaults.DOWNLOAD_WORKERS
    assert config.verify_tls is True


def test_default_config_is_terrascope() -> None:
    config = CatalogueConfig.get_default_config()
    assert config.environment is CatalogueEnvironment.TERRASCOPE
    assert config.catalogue_url == "https://services.terrascope.be/catalogue/"


def test_a_plain_configparser_is_accepted_as_in_the_reference() -> None:
    parser = configparser.ConfigParser()
    parser.read_string(bundled_text(CatalogueEnvironment.CGLS))
    config = CatalogueConfig(parser)
    assert config.catalogue_url == "https://globalland.vito.be/catalogue/"
    assert config.environment is None
    assert config.config is parser


# --- overriding by file -----------------------------------------------------------------------


def test_from_file_overrides_terrascope_defaults_key_by_key(tmp_path: Path) -> None:
    path = write_ini(
        tmp_path,
        """
        [Catalogue]
        URL = http://127.0.0.1:8080/catalogue

        [HTTP]
        ChunkSize = 1024
        SearchTimeout = 2.5
        DownloadTimeout = 30
        Retries = 0
        PageSize = 20
        SearchWorkers = 8
        DownloadWorkers = 2
        VerifyTLS = no
        """,
    )
    config = CatalogueConfig.from_file(path)
    assert config.catalogue_url == "http://127.0.0.1:8080/catalogue/"
    assert config.http_download_chunk_size == 1024
    assert config.search_timeout == 2.5
    assert config.download_timeout == 30.0
    assert config.retries == 0
    assert config.page_size == 20
    assert config.search_workers == 8
    assert config.download_workers == 2
    assert config.verify_tls is False
    # what the file leaves out keeps Terrascope's value, but for Terrascope's sign-in: the
    # catalogue is another one
    assert config.oidc_client_id == "terracatalogueclient"
    assert config.oidc_token_endpoint == "" and config.token_hosts == ()
    assert config.oidc_interactive_supported is False
    assert config.environment is CatalogueEnvironment.TERRASCOPE


def test_from_file_accepts_a_str_path(tmp_path: Path) -> None:
    path = write_ini(tmp_path, "[Auth]\nClientId = mine\n")
    assert CatalogueConfig.from_file(str(path)).oidc_client_id == "mine"


def test_from_environment_overrides_that_environment_not_terrascope(tmp_path: Path) -> None:
    path = write_ini(tmp_path, "[HTTP]\nPageSize = 50\n")
    config = CatalogueConfig.from_environment(CatalogueEnvironment.HRVPP, path)
    assert config.page_size == 50
    assert config.catalogue_url == "https://phenology.vgt.vito.be/"
    assert config.s3_endpoint_url == "http://data.cloudferro.com"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.org/catalogue", "https://example.org/catalogue/"),
        ("https://example.org/catalogue/", "https://example.org/catalogue/"),
        ("https://example.org/catalogue///", "https://example.org/catalogue/"),
        ("HTTP://example.org", "HTTP://example.org/"),
    ],
)
def test_catalogue_url_always_ends_in_one_slash(tmp_path: Path, url: str, expected: str) -> None:
    path = write_ini(tmp_path, f"[Catalogue]\nURL = {url}\n")
    assert CatalogueConfig.from_file(path).catalogue_url == expected


def test_a_file_starting_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "bom.ini"
    path.write_bytes(b"\xef\xbb\xbf[HTTP]\nPageSize = 7\n")
    assert CatalogueConfig.from_file(path).page_size == 7


# --- the environment variables ----------------------------------------------------------------


def test_aws_environment_variables_override_the_s3_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_ini(tmp_path, "[S3]\nAccessKey = file-access\nSecretKey = file-secret\n")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "env-access")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    config = CatalogueConfig.from_file(path)
    assert (config.s3_access_key, config.s3_secret_key) == ("env-access", "env-secret")


def test_empty_aws_environment_variables_do_not_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_ini(tmp_path, "[S3]\nAccessKey = file-access\nSecretKey = file-secret\n")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "")
    config = CatalogueConfig.from_file(path)
    assert (config.s3_access_key, config.s3_secret_key) == ("file-access", "file-secret")


def test_without_aws_environment_variables_the_file_keys_are_used(tmp_path: Path) -> None:
    path = write_ini(tmp_path, "[S3]\nAccessKey = file-access\nSecretKey = file-secret\n")
    config = CatalogueConfig.from_file(path)
    assert (config.s3_access_key, config.s3_secret_key) == ("file-access", "file-secret")


# --- files that cannot be used ----------------------------------------------------------------


def test_a_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.ini"
    with pytest.raises(ConfigurationException, match="does not exist") as error:
        CatalogueConfig.from_file(path)
    assert str(path) in str(error.value)


def test_a_missing_override_file_is_an_error_for_every_environment(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.ini"
    with pytest.raises(ConfigurationException, match=r"nowhere\.ini"):
        CatalogueConfig.from_environment(CatalogueEnvironment.CGLS, path)


def test_a_directory_is_not_a_configuration_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationException) as error:
        CatalogueConfig.from_file(tmp_path)
    assert str(tmp_path) in str(error.value)


@pytest.mark.parametrize(
    "text",
    [
        "URL = https://example.org/\n",  # no section header
        "[HTTP]\nChunkSize = 1\nChunkSize = 2\n",  # duplicate key
        "[HTTP]\n[HTTP]\n",  # duplicate section
        "[HTTP\nChunkSize = 1\n",  # broken header
    ],
    ids=["no-section", "duplicate-key", "duplicate-section", "broken-header"],
)
def test_an_unparseable_file_is_an_error_naming_it(tmp_path: Path, text: str) -> None:
    path = write_ini(tmp_path, text)
    with pytest.raises(ConfigurationException, match="Cannot parse") as error:
        CatalogueConfig.from_file(path)
    assert str(path) in str(error.value)


def test_a_file_that_is_not_text_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "binary.ini"
    path.write_bytes(b"[HTTP]\nChunkSize = \xff\xfe\n")
    with pytest.raises(ConfigurationException, match="UTF-8") as error:
        CatalogueConfig.from_file(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("path", [42, ["a.ini", "b.ini"]])
def test_a_path_of_the_wrong_type_is_an_error(path: object) -> None:
    with pytest.raises(ConfigurationException, match="path"):
        CatalogueConfig.from_file(path)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("HTTP", "ChunkSize", "two megabytes"),
        ("HTTP", "ChunkSize", "0"),
        ("HTTP", "ChunkSize", "-1"),
        ("HTTP", "ChunkSize", "1.5"),
        ("HTTP", "ChunkSize", ""),
        ("Auth", "InteractiveSupported", "maybe"),
        ("Auth", "NonInteractiveSupported", "2"),
        ("Catalogue", "URL", "ftp://example.org/catalogue"),
        ("Catalogue", "URL", "services.terrascope.be/catalogue"),
        ("Catalogue", "URL", "https://"),
        ("Catalogue", "URL", ""),
        ("Auth", "TokenEndpoint", "sso.terrascope.be/token"),
        ("Auth", "DeviceAuthorizationEndpoint", "file:///device"),
        ("S3", "EndpointUrl", "s3.example.org"),
        ("HTTP", "SearchTimeout", "0"),
        ("HTTP", "SearchTimeout", "-3"),
        ("HTTP", "SearchTimeout", "nan"),
        ("HTTP", "DownloadTimeout", "inf"),
        ("HTTP", "DownloadTimeout", "soon"),
        ("HTTP", "Retries", "-1"),
        ("HTTP", "Retries", "many"),
        ("HTTP", "PageSize", "0"),
        ("HTTP", "SearchWorkers", "-2"),
        ("HTTP", "DownloadWorkers", "1.5"),
        ("HTTP", "VerifyTLS", "sometimes"),
    ],
)
def test_a_malformed_value_names_section_key_value_and_file(
    tmp_path: Path, section: str, key: str, value: str
) -> None:
    path = write_ini(tmp_path, f"[{section}]\n{key} = {value}\n")
    with pytest.raises(ConfigurationException) as error:
        CatalogueConfig.from_file(path)
    message = str(error.value)
    assert f"[{section}] {key}" in message
    assert repr(value) in message
    assert str(path) in message
    assert "expected" in message


def test_a_percent_sign_that_breaks_interpolation_is_explained(tmp_path: Path) -> None:
    path = write_ini(tmp_path, "[Auth]\nClientSecret = 50%off\n")
    with pytest.raises(ConfigurationException, match="%%") as error:
        CatalogueConfig.from_file(path)
    assert "[Auth] ClientSecret" in str(error.value)
    assert str(path) in str(error.value)


def test_an_escaped_percent_sign_is_read_as_one(tmp_path: Path) -> None:
    path = write_ini(tmp_path, "[Auth]\nClientSecret = 50%%off\n")
    assert CatalogueConfig.from_file(path).oidc_client_secret == "50%off"


@pytest.mark.parametrize("retries", ["0", "3"])
def test_zero_retries_is_allowed(tmp_path: Path, retries: str) -> None:
    path = write_ini(tmp_path, f"[HTTP]\nRetries = {retries}\n")
    assert CatalogueConfig.from_file(path).retries == int(retries)


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("Catalogue", "URL"),
        ("Auth", "ClientId"),
        ("Auth", "ClientSecret"),
        ("Auth", "TokenEndpoint"),
        ("Auth", "AuthorizationEndpoint"),
        ("Auth", "InteractiveSupported"),
        ("Auth", "NonInteractiveSupported"),
        ("HTTP", "ChunkSize"),
        ("S3", "AccessKey"),
        ("S3", "SecretKey"),
        ("S3", "EndpointUrl"),
    ],
)
def test_a_missing_required_key_is_an_error_naming_it(section: str, key: str) -> None:
    parser = configparser.ConfigParser()
    parser.read_string(bundled_text(CatalogueEnvironment.TERRASCOPE))
    parser.remove_option(section, key)
    with pytest.raises(ConfigurationException, match=f"no {key} key in its \\[{section}\\]"):
        CatalogueConfig(parser)


@pytest.mark.parametrize("section", ["Catalogue", "Auth", "HTTP", "S3"])
def test_a_missing_section_is_an_error_naming_it(section: str) -> None:
    parser = configparser.ConfigParser()
    parser.read_string(bundled_text(CatalogueEnvironment.TERRASCOPE))
    parser.remove_section(section)
    with pytest.raises(ConfigurationException, match=f"no \\[{section}\\] section"):
        CatalogueConfig(parser)


def test_optional_keys_may_be_missing_from_a_plain_configparser() -> None:
    parser = configparser.ConfigParser()
    parser.read_string(bundled_text(CatalogueEnvironment.TERRASCOPE))
    parser.remove_option("Auth", "DeviceAuthorizationEndpoint")
    config = CatalogueConfig(parser)
    assert config.oidc_device_authorization_endpoint == ""
    assert config.page_size == _defaults.PAGE_SIZE


def test_something_that_is_not_a_configparser_is_refused() -> None:
    with pytest.raises(ConfigurationException, match="from_file"):
        CatalogueConfig({"Catalogue": {"URL": "https://example.org/"}})  # type: ignore[arg-type]


@pytest.mark.parametrize("environment", ["terrascope", "terrascope.ini", None, 1])
def test_an_unknown_environment_lists_the_valid_ones(environment: object) -> None:
    with pytest.raises(ConfigurationException) as error:
        CatalogueConfig.from_environment(environment)  # type: ignore[arg-type]
    message = str(error.value)
    assert repr(environment) in message
    for valid in CatalogueEnvironment:
        assert f"CatalogueEnvironment.{valid.name}" in message


# --- the repr never shows a secret ------------------------------------------------------------


def test_repr_shows_where_it_points_but_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_ini(
        tmp_path,
        """
        [Auth]
        ClientSecret = client-secret-value
        [S3]
        AccessKey = file-access-value
        SecretKey = file-secret-value
        EndpointUrl = https://s3.example.org
        """,
    )
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret-value")
    config = CatalogueConfig.from_environment(CatalogueEnvironment.HRVPP, path)
    assert config.oidc_client_secret == "client-secret-value"  # it is read ...
    assert config.s3_secret_key == "env-secret-value"
    for text in (repr(config), str(config)):  # ... and never shown
        assert "client-secret-value" not in text
        assert "file-secret-value" not in text
        assert "env-secret-value" not in text
        assert "file-access-value" not in text
        assert "https://phenology.vgt.vito.be/" in text
        assert "HRVPP" in text
        assert "https://s3.example.org" in text
        assert "<set>" in text


def test_repr_of_the_bundled_hrvpp_config_hides_its_client_secret() -> None:
    text = repr(CatalogueConfig.from_environment(CatalogueEnvironment.HRVPP))
    assert HRVPP_SECRET not in text
    assert "oidc_client_secret=<set>" in text


def test_repr_says_when_a_secret_is_empty() -> None:
    text = repr(CatalogueConfig.from_environment(CatalogueEnvironment.CGLS))
    assert "oidc_client_secret=<empty>" in text
    assert "s3_secret_key=<empty>" in text


# --- from_url ---------------------------------------------------------------------------------


def test_from_url_replaces_the_catalogue_url_and_drops_the_environment_s_sign_in() -> None:
    config = CatalogueConfig.from_url("http://127.0.0.1:8080/catalogue")
    default = CatalogueConfig.get_default_config()
    assert config.catalogue_url == "http://127.0.0.1:8080/catalogue/"
    assert config.environment is CatalogueEnvironment.TERRASCOPE
    for name in ("oidc_client_id", "http_download_chunk_size", "page_size"):
        assert getattr(config, name) == getattr(default, name)
    # Terrascope's identity provider, and the hosts its token is for, stay Terrascope's
    for name in (
        "oidc_token_endpoint",
        "oidc_authorization_endpoint",
        "oidc_device_authorization_endpoint",
    ):
        assert getattr(config, name) == ""
    assert config.token_hosts == () and not config.sign_in_given and not config.at_home


def test_from_url_keeps_the_chosen_environment_but_not_its_sign_in() -> None:
    config = CatalogueConfig.from_url("https://mirror.example.org/", CatalogueEnvironment.HRVPP)
    assert config.catalogue_url == "https://mirror.example.org/"
    assert config.environment is CatalogueEnvironment.HRVPP
    assert config.oidc_token_endpoint == "" and config.oidc_client_secret == ""
    home = CatalogueConfig.from_url("https://phenology.vgt.vito.be", CatalogueEnvironment.HRVPP)
    assert home.oidc_token_endpoint == "https://identity.prod.wekeo2.eu/oauth2/token"


def test_from_url_keeps_percent_encoding() -> None:
    config = CatalogueConfig.from_url("https://example.org/my%20catalogue")
    assert config.catalogue_url == "https://example.org/my%20catalogue/"


@pytest.mark.parametrize("url", ["example.org/catalogue", "ftp://example.org/", "", "https://"])
def test_from_url_refuses_what_is_not_an_http_url(url: str) -> None:
    with pytest.raises(ConfigurationException, match="URL") as error:
        CatalogueConfig.from_url(url)
    assert repr(url) in str(error.value)


def test_from_url_refuses_a_url_that_is_not_a_str() -> None:
    with pytest.raises(ConfigurationException, match="str"):
        CatalogueConfig.from_url(b"http://example.org/")  # type: ignore[arg-type]


def test_from_url_refuses_an_unknown_environment() -> None:
    with pytest.raises(ConfigurationException, match=r"CatalogueEnvironment\.CGLS"):
        CatalogueConfig.from_url("http://example.org/", "cgls")  # type: ignore[arg-type]
