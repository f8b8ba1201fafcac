"""Catalogue configuration: which catalogue to talk to, how to sign in, and how hard to push.

The reference client reads an ``.ini`` file layered over a bundled default and trusts what it
finds: a mistyped path is skipped without a word and a bad value surfaces later as a bare
``ValueError`` far from its cause. terracat keeps the reference's files, classes and attributes
but checks everything once, here, and says which file, section, key and value were wrong.

Configuration flows ``CatalogueConfig`` -> ``Catalogue`` -> transport. This module is the only
one in terracat that reads files or environment variables, so what a search or a download does
can always be traced back to one ``CatalogueConfig`` object.

>>> config = CatalogueConfig.from_environment(CatalogueEnvironment.CGLS)
>>> config.catalogue_url
'https://globalland.vito.be/catalogue/'
"""

from __future__ import annotations

import configparser
import copy
import difflib
import functools
import math
import os
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from terracat import _defaults
from terracat.exceptions import ConfigurationException

__all__ = ["CatalogueConfig", "CatalogueEnvironment"]

_HTTP_SCHEMES = ("http", "https")
DEFAULT_PROTOCOL = "opensearch"
URL_VARIABLE = "TERRACAT_URL"
"""The environment variable naming the default catalogue's URL (the CLI's ``--url`` too)."""


def url_from_environment() -> str | None:
    """``$TERRACAT_URL`` when set and not empty: the default catalogue's URL, else ``None``.

    Read here, the one module that reads the environment, so that ``terracat.search`` and the
    ``terracat`` command point at the same catalogue.

    Raises
    ------
    ConfigurationException
        when it is set but not an http:// or https:// URL
    """
    url = os.environ.get(URL_VARIABLE, "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in _HTTP_SCHEMES or not parts.netloc:
        raise ConfigurationException(
            f"The environment variable {URL_VARIABLE} = {url!r} is not an http:// or https:// "
            "URL; set it to a catalogue's URL or unset it for the default catalogue."
        )
    return url


class CatalogueEnvironment(Enum):
    """Catalogue environment object: a pre-defined catalogue deployment.

    Each value names the bundled ``.ini`` file holding that deployment's endpoints.
    """

    TERRASCOPE = "terrascope.ini"
    HRVPP = "hrvpp.ini"
    CGLS = "cgls.ini"
    TERRASCOPE_STAC = "terrascope_stac.ini"
    """Terrascope's STAC API, with the same sign-in and download service as ``TERRASCOPE``."""
    CDSE = "cdse.ini"
    """The Copernicus Data Space Ecosystem's STAC API, its identity service and its ``eodata`` S3."""


class _SourcedConfigParser(configparser.ConfigParser):
    """A ``ConfigParser`` that remembers which file set each option.

    Configuration is layered (bundled defaults, then the user's file), so "ChunkSize is not an
    integer" is only actionable when it also says *which* file to fix.
    """

    def __init__(self, environment: CatalogueEnvironment | None = None) -> None:
        super().__init__()
        self.environment = environment
        self.origins: dict[tuple[str, str], str] = {}
        # where the environment's own values come from, as origins name it
        self.bundled_source = f"terracat/resources/{environment.value}" if environment else ""

    def read_layer(self, text: str, source: str) -> None:
        """Parse ``text`` on top of what was read before, recording ``source`` per option."""
        # Parse alone first: a broken file must not leave half of itself in the merged result,
        # and its own parse tells exactly which options it sets.
        layer = configparser.ConfigParser(interpolation=None)
        try:
            layer.read_string(text, source=source)
            self.read_string(text, source=source)
        except configparser.Error as error:
            raise ConfigurationException(
                f"Cannot parse the configuration file {source}: {error}"
            ) from error
        for key in layer.defaults():  # [DEFAULT] is no section, and a file sets it too
            self.origins[(layer.default_section, key)] = source
        for section in layer.sections():
            for key in layer.options(section):
                self.origins[(section, key)] = source


class _Reader:
    """Typed, checked access to one parsed configuration, with errors that point at the value."""

    def __init__(self, config: configparser.RawConfigParser) -> None:
        self.config = config
        self.origins: dict[tuple[str, str], str] = getattr(config, "origins", {})
        # Every (section, key) asked for, as configparser spells the key: what CatalogueConfig
        # reads is then the one list of known names, and a name outside it is a mistake.
        # Values: the key as terracat spells it, for messages.
        self.asked: dict[tuple[str, str], str] = {}

    def _ask(self, section: str, key: str) -> None:
        self.asked[(section, self.config.optionxform(key))] = key

    def given(self, section: str, key: str) -> bool:
        """Whether the configuration sets ``key`` at all (rather than leaving the default)."""
        self._ask(section, key)
        return self.config.has_section(section) and self.config.has_option(section, key)

    def check_unknown(self) -> None:
        """Refuse a section or key nothing reads: a misspelled one would be ignored silently."""
        sections = {section for section, _ in self.asked}
        keys = {key for _, key in self.asked}
        defaults = self.config.defaults()
        for key in defaults:
            if key not in keys:
                raise self._unknown_key(self.config.default_section, key, sorted(keys))
        for section in self.config.sections():
            if section not in sections:
                raise self._unknown_section(section, sorted(sections))
            known = sorted(key for s, key in self.asked if s == section)
            for key in self.config.options(section):  # includes [DEFAULT]'s, checked above
                if key not in defaults and (section, key) not in self.asked:
                    raise self._unknown_key(section, key, known)

    def _unknown_section(self, section: str, known: list[str]) -> ConfigurationException:
        origin = next((o for (s, _), o in self.origins.items() if s == section), None)
        where = f" in {origin}" if origin else ""
        near = _closest(section, known)
        return ConfigurationException(
            f"The configuration section [{section}]{where} is not one terracat reads"
            f"{_did_you_mean(near, f'[{near}]')}; "
            f"the sections are {', '.join(f'[{name}]' for name in known)}."
        )

    def _unknown_key(self, section: str, key: str, known: list[str]) -> ConfigurationException:
        spelt = {key: name for (_, key), name in self.asked.items()}
        names = {name: spelt[name] for name in known}
        near = _closest(key, known)
        return ConfigurationException(
            f"[{section}] {key}{self._where(section, key)} is not a key terracat reads"
            f"{_did_you_mean(near, f'[{section}] {names[near]}' if near else '')}; "
            f"the keys of [{section}] are {', '.join(names.values()) or 'none'}."
        )

    def _where(self, section: str, key: str) -> str:
        origin = self.origins.get((section, self.config.optionxform(key)))
        return f" in {origin}" if origin else ""

    def _lookup(self, section: str, key: str) -> str | None:
        self._ask(section, key)
        if not self.config.has_section(section) or not self.config.has_option(section, key):
            return None
        try:
            return self.config.get(section, key)
        except configparser.InterpolationError as error:
            raise ConfigurationException(
                f"[{section}] {key}{self._where(section, key)} cannot be read: {error}. "
                "A literal '%' must be written as '%%'."
            ) from error

    def _missing(self, section: str, key: str) -> ConfigurationException:
        sources = sorted(set(self.origins.values()))
        read = f" (read from {', '.join(sources)})" if sources else ""
        if not self.config.has_section(section):
            near = _closest(section, self.config.sections())
            hint = f" [{near}] is there: is it misspelled?" if near else ""
            return ConfigurationException(
                f"The configuration has no [{section}] section{read}; it needs [{section}] {key}."
                + hint
            )
        unread = [k for k in self.config.options(section) if (section, k) not in self.asked]
        near = _closest(key, unread)
        hint = f" [{section}] {near} is there: is it misspelled?" if near else ""
        return ConfigurationException(
            f"The configuration has no {key} key in its [{section}] section{read}." + hint
        )

    def _invalid(self, section: str, key: str, value: str, expected: str) -> ConfigurationException:
        return ConfigurationException(
            f"[{section}] {key} = {value!r}{self._where(section, key)} is not valid: "
            f"expected {expected}."
        )

    def text(self, section: str, key: str, default: str | None = None) -> str:
        value = self._lookup(section, key)
        if value is None:
            if default is None:
                raise self._missing(section, key)
            return default
        return value

    def url(self, section: str, key: str, *, required: bool, default: str | None = None) -> str:
        value = self.text(section, key, default).strip()
        if not value and not required:
            return value
        parts = urlsplit(value)
        if parts.scheme.lower() not in _HTTP_SCHEMES or not parts.netloc:
            optional = " or nothing" if not required else ""
            raise self._invalid(section, key, value, f"an http:// or https:// URL{optional}")
        return value

    def urls(self, section: str, key: str) -> tuple[str, ...]:
        """A list of http(s) URLs separated by commas or whitespace; empty when absent."""
        value = self._lookup(section, key) or ""
        found = tuple(u for u in value.replace(",", " ").split() if u)
        for url in found:
            parts = urlsplit(url)
            if parts.scheme.lower() not in _HTTP_SCHEMES or not parts.hostname:
                raise self._invalid(
                    section,
                    key,
                    value,
                    f"http:// or https:// URLs separated by commas ({url!r} is not one)",
                )
        return found

    def boolean(self, section: str, key: str, default: bool | None = None) -> bool:
        value = self._lookup(section, key)
        if value is None:
            if default is None:
                raise self._missing(section, key)
            return default
        states: dict[str, bool] = self.config.BOOLEAN_STATES
        if value.strip().lower() not in states:
            raise self._invalid(section, key, value, "a boolean (True/False, yes/no, on/off, 1/0)")
        return states[value.strip().lower()]

    def integer(self, section: str, key: str, default: int | None = None, minimum: int = 1) -> int:
        value = self._lookup(section, key)
        if value is None:
            if default is None:
                raise self._missing(section, key)
            return default
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or number < minimum:
            kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            raise self._invalid(section, key, value, kind)
        return number

    def seconds(self, section: str, key: str, default: float) -> float:
        value = self._lookup(section, key)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or number <= 0:
            raise self._invalid(section, key, value, "a positive number of seconds")
        return number


class CatalogueConfig:
    """Catalogue configuration object.

    Build one with :meth:`from_environment`, :meth:`from_file` or :meth:`from_url` rather than
    by hand: those layer a user's file over the bundled defaults and remember which file set
    each value, so an error can name it.

    Parameters
    ----------
    config : configparser.ConfigParser
        the parsed configuration, with sections ``Catalogue``, ``Auth``, ``HTTP`` and ``S3``

    Attributes
    ----------
    config : configparser.ConfigParser
        the configuration this object was read from
    environment : CatalogueEnvironment or None
        the pre-defined environment whose defaults were used, ``None`` when built directly
    at_home : bool
        whether the catalogue is ``environment``'s own: only then does the configuration keep
        the environment's sign-in (:meth:`from_url`)
    catalogue_url : str
        the catalogue's base URL, always ending in ``/`` so that ``urljoin`` keeps its path
    protocol : str
        the protocol the catalogue speaks (``[Catalogue] Protocol``, ``opensearch`` by default)
    alternates : tuple of str
        the names of the STAC asset alternates whose hrefs file entries take where an asset has
        one, the first found winning (``[Catalogue] Alternate``, names separated by commas;
        none by default: the assets' own hrefs). The Data Space's is ``https``: its assets are
        ``s3://eodata/...``, their ``alternate.https`` the same files over https
    oidc_client_id, oidc_client_secret : str
        the OpenID Connect client registration (the secret may be empty)
    oidc_token_endpoint, oidc_authorization_endpoint, oidc_device_authorization_endpoint : str
        the identity provider's endpoints; empty when the catalogue has none
    oidc_interactive_supported, oidc_non_interactive_supported : bool
        which sign-in flows the catalogue's identity provider accepts
    token_hosts : tuple of str
        the download services that receive the access token besides the catalogue itself
        (``[Auth] TokenHosts``; only their scheme, host and port count). A product file on any
        other host is fetched without credentials.
    http_download_chunk_size : int
        bytes read per chunk of a download
    search_timeout, download_timeout : float
        seconds for a whole catalogue page (connect, headers and body), and to wait for the
        next bytes of a download
    retries : int
        attempts after the first for a 429, a 5xx, a dropped connection or a late page: one
        budget per request, whichever layer retries
    max_page_bytes : int
        the largest decoded catalogue page accepted (a compressed page inflating past it fails)
    page_size_given : bool
        whether ``[HTTP] PageSize`` was written in a file (or ``page_size`` assigned): a STAC
        catalogue otherwise asks for its own default page size
    search_workers, download_workers : int
        pages fetched at once, files transferred at once
    token_cache_path : pathlib.Path
        where an opt-in token cache keeps refresh tokens (``[Auth] TokenCache``, else
        ``$XDG_CACHE_HOME/terracat/tokens.json`` or ``~/.cache/terracat/tokens.json``)
    verify_tls : bool
        whether TLS certificates are verified
    s3_endpoint_url, s3_access_key, s3_secret_key : str
        S3 access; the ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY`` environment variables,
        when set and non-empty, take precedence over the keys in the file

    Raises
    ------
    ConfigurationException
        when a section or key is missing, unknown (a misspelling is ignored by the reference
        client; here it names the closest known one) or a value is malformed

    Examples
    --------
    >>> config = CatalogueConfig.get_default_config()
    >>> config.catalogue_url, config.oidc_interactive_supported
    ('https://services.terrascope.be/catalogue/', True)
    """

    def __init__(self, config: configparser.ConfigParser) -> None:
        if not isinstance(config, configparser.RawConfigParser):
            raise ConfigurationException(
                f"CatalogueConfig needs a configparser.ConfigParser, not {type(config).__name__}; "
                "use CatalogueConfig.from_file(path) to read a file."
            )
        self.config = config
        self.environment: CatalogueEnvironment | None = getattr(config, "environment", None)
        read = _Reader(config)

        # Catalogue
        self.catalogue_url = read.url("Catalogue", "URL", required=True).rstrip("/") + "/"
        # which protocol's backend speaks to it (terracat.protocols.BACKENDS checks the name)
        self.protocol = read.text("Catalogue", "Protocol", default=DEFAULT_PROTOCOL).strip().lower()
        # an environment's own catalogue signs in as its bundled file says, even not at all
        self.at_home = self.environment is not None and _same_url(
            self.catalogue_url, _home_url(self.environment)
        )
        # which of a STAC asset's alternate hrefs its file entry takes (an asset's own otherwise)
        self.alternates = tuple(
            dict.fromkeys(read.text("Catalogue", "Alternate", default="").replace(",", " ").split())
        )

        # Auth
        self.oidc_client_id = read.text("Auth", "ClientId")
        self.oidc_client_secret = read.text("Auth", "ClientSecret")
        self.oidc_token_endpoint = read.url("Auth", "TokenEndpoint", required=False)
        self.oidc_authorization_endpoint = read.url("Auth", "AuthorizationEndpoint", required=False)
        self.oidc_device_authorization_endpoint = read.url(
            "Auth", "DeviceAuthorizationEndpoint", required=False, default=""
        )
        self.oidc_interactive_supported = read.boolean("Auth", "InteractiveSupported")
        self.oidc_non_interactive_supported = read.boolean("Auth", "NonInteractiveSupported")
        self.token_hosts = read.urls("Auth", "TokenHosts")
        # the opt-in token cache: [Auth] TokenCache, else the user's cache directory
        self.token_cache_path = Path(
            read.text("Auth", "TokenCache", default="") or _default_token_cache()
        )

        # HTTP
        self.http_download_chunk_size = read.integer("HTTP", "ChunkSize")
        self.search_timeout = read.seconds("HTTP", "SearchTimeout", _defaults.SEARCH_TIMEOUT)
        self.download_timeout = read.seconds("HTTP", "DownloadTimeout", _defaults.DOWNLOAD_TIMEOUT)
        # Zero retries is a sensible choice (fail fast), unlike zero workers or a zero page size.
        self.retries = read.integer("HTTP", "Retries", _defaults.RETRIES, minimum=0)
        self._page_size = read.integer("HTTP", "PageSize", _defaults.PAGE_SIZE)
        # A protocol whose servers want another page size (STAC) keeps its own default unless
        # PageSize was written, even when written as the OpenSearch default.
        self.page_size_given = read.given("HTTP", "PageSize")
        self.search_workers = read.integer("HTTP", "SearchWorkers", _defaults.SEARCH_WORKERS)
        self.download_workers = read.integer("HTTP", "DownloadWorkers", _defaults.DOWNLOAD_WORKERS)
        self.verify_tls = read.boolean("HTTP", "VerifyTLS", True)
        self.max_page_bytes = read.integer("HTTP", "MaxPageBytes", _defaults.MAX_PAGE_BYTES)

        # S3
        self.s3_endpoint_url = read.url("S3", "EndpointUrl", required=False)
        # Credentials from the environment win, as in the reference client and in boto3, so
        # that keys need not be written into a file.
        # Both keys are read (and so checked) even when the environment wins.
        access_key, secret_key = read.text("S3", "AccessKey"), read.text("S3", "SecretKey")
        self.s3_access_key = os.environ.get("AWS_ACCESS_KEY_ID") or access_key
        self.s3_secret_key = os.environ.get("AWS_SECRET_ACCESS_KEY") or secret_key

        # Last: what was read above is every section and key terracat knows.
        read.check_unknown()
        self._known_names = dict(read.asked)

    @property
    def page_size(self) -> int:
        """Products asked for per page (``[HTTP] PageSize``); setting it marks it given
        (:attr:`page_size_given`)."""
        return self._page_size

    @page_size.setter
    def page_size(self, value: int) -> None:
        self._page_size = value
        self.page_size_given = True

    def __repr__(self) -> str:
        # Secrets never appear here: a repr ends up in logs, tracebacks and bug reports.
        environment = self.environment.name if self.environment is not None else None
        return (
            f"CatalogueConfig(environment={environment}, "
            f"catalogue_url={self.catalogue_url!r}, "
            f"oidc_client_id={self.oidc_client_id!r}, "
            f"oidc_client_secret={_presence(self.oidc_client_secret)}, "
            f"oidc_interactive_supported={self.oidc_interactive_supported}, "
            f"oidc_non_interactive_supported={self.oidc_non_interactive_supported}, "
            f"s3_endpoint_url={self.s3_endpoint_url!r}, "
            f"s3_access_key={_presence(self.s3_access_key)}, "
            f"s3_secret_key={_presence(self.s3_secret_key)})"
        )

    @staticmethod
    def get_default_config() -> CatalogueConfig:
        """Get the default configuration: the Terrascope catalogue.

        Returns
        -------
        CatalogueConfig
            the Terrascope configuration

        Examples
        --------
        >>> CatalogueConfig.get_default_config().environment
        <CatalogueEnvironment.TERRASCOPE: 'terrascope.ini'>
        """
        return CatalogueConfig.from_environment(CatalogueEnvironment.TERRASCOPE)

    @staticmethod
    def from_file(path: str | os.PathLike[str]) -> CatalogueConfig:
        """Get a catalogue configuration object from a configuration file.

        The file only needs the values it changes: the Terrascope defaults fill in the rest.

        Parameters
        ----------
        path : str or os.PathLike
            path of the catalogue ``.ini`` configuration file

        Returns
        -------
        CatalogueConfig
            the Terrascope defaults overridden by the file

        Raises
        ------
        ConfigurationException
            when the file does not exist, cannot be parsed or holds a malformed value

        Examples
        --------
        >>> CatalogueConfig.from_file("my-catalogue.ini")  # doctest: +SKIP
        """
        return CatalogueConfig.from_environment(CatalogueEnvironment.TERRASCOPE, path)

    @staticmethod
    def from_environment(
        environment: CatalogueEnvironment, path: str | os.PathLike[str] | None = None
    ) -> CatalogueConfig:
        """Get a catalogue configuration object from a pre-defined environment.

        Parameters
        ----------
        environment : CatalogueEnvironment
            the pre-defined environment
        path : str or os.PathLike, optional
            a catalogue ``.ini`` configuration file whose values override the environment's

        Returns
        -------
        CatalogueConfig
            the environment's configuration

        Raises
        ------
        ConfigurationException
            when ``environment`` is not a :class:`CatalogueEnvironment`, or the file does not
            exist, cannot be parsed or holds a malformed value

        Examples
        --------
        >>> CatalogueConfig.from_environment(CatalogueEnvironment.HRVPP).catalogue_url
        'https://phenology.vgt.vito.be/'
        """
        parser = _bundled_parser(environment)
        if path is not None:
            parser.read_layer(_read_file(path), source=os.fspath(path))
        _sign_in_stays_home(parser)
        return CatalogueConfig(parser)

    @staticmethod
    def from_url(
        url: str,
        environment: CatalogueEnvironment = CatalogueEnvironment.TERRASCOPE,
        *,
        protocol: str | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> CatalogueConfig:
        """Get an environment's configuration pointing at another catalogue URL.

        This is how a client talks to a local catalogue (``terracat serve``) or a mirror while
        keeping the environment's transfer settings. The environment's sign-in (its identity
        provider, client secret and ``TokenHosts``) is kept only when ``url`` is that
        environment's own catalogue: a password typed for Terrascope, and the token it buys,
        must not go wherever a URL points. Another catalogue's sign-in comes from ``path``, or
        from what the catalogue itself announces (:meth:`terracat.Catalogue.authenticate` and
        the other sign-in methods look for it). No request is sent here: the protocol is the
        environment's (or the file's) unless ``protocol`` is given
        (:meth:`terracat.Catalogue.from_url` reads it from the catalogue's landing page).

        Parameters
        ----------
        url : str
            the catalogue's base URL, http:// or https://
        environment : CatalogueEnvironment, default TERRASCOPE
            the environment whose other values are kept
        protocol : str, optional
            the catalogue's protocol (``opensearch``, ``stac``), replacing the environment's
        path : str or os.PathLike, optional
            a catalogue ``.ini`` file whose values override the environment's, checked as
            :meth:`from_file` checks it; ``url`` wins over its ``[Catalogue] URL``

        Returns
        -------
        CatalogueConfig
            the environment's configuration pointing at ``url``

        Raises
        ------
        ConfigurationException
            when ``url`` is not an http(s) URL, ``environment`` is not a CatalogueEnvironment,
            or the file does not exist, cannot be parsed or holds a malformed or unknown value

        Examples
        --------
        >>> config = CatalogueConfig.from_url("http://127.0.0.1:8080/catalogue")
        >>> config.catalogue_url, config.oidc_token_endpoint
        ('http://127.0.0.1:8080/catalogue/', '')
        """
        if not isinstance(url, str):
            raise ConfigurationException(
                f"The catalogue URL must be a str, not {type(url).__name__}: {url!r}."
            )
        parser = _bundled_parser(environment)
        if path is not None:
            parser.read_layer(_read_file(path), source=os.fspath(path))
        # Escape '%' so that percent-encoded URLs survive ConfigParser's interpolation.
        parser.set("Catalogue", "URL", url.replace("%", "%%"))
        parser.origins[("Catalogue", "url")] = "the URL given to CatalogueConfig.from_url"
        if protocol is not None:
            if not isinstance(protocol, str):
                raise ConfigurationException(
                    f"The catalogue protocol must be a str, not {type(protocol).__name__}: "
                    f"{protocol!r}."
                )
            parser.set("Catalogue", "Protocol", protocol.replace("%", "%%"))
            parser.origins[("Catalogue", "protocol")] = "the protocol given to from_url"
        _sign_in_stays_home(parser)
        return CatalogueConfig(parser)

    @property
    def sign_in_given(self) -> bool:
        """Whether this configuration names an identity provider (``[Auth] TokenEndpoint``);
        without one, a catalogue other than an environment's own is asked where it signs in."""
        return bool(self.oidc_token_endpoint)

    def with_sign_in(
        self,
        *,
        token_endpoint: str,
        authorization_endpoint: str = "",
        device_authorization_endpoint: str = "",
        interactive: bool,
        non_interactive: bool,
        source: str,
    ) -> CatalogueConfig:
        """A copy of this configuration signing in where ``source`` (a catalogue) says.

        What a catalogue announces replaces the ``[Auth]`` endpoints and flows only; the
        client registration, the token hosts and every other value stay this configuration's
        (values assigned to its attributes included).
        """
        found = copy.copy(self)
        found.config = copy.deepcopy(self.config)
        values = {
            "TokenEndpoint": token_endpoint,
            "AuthorizationEndpoint": authorization_endpoint,
            "DeviceAuthorizationEndpoint": device_authorization_endpoint,
            "InteractiveSupported": str(interactive),
            "NonInteractiveSupported": str(non_interactive),
        }
        origins: dict[tuple[str, str], str] = getattr(found.config, "origins", {})
        for key, value in values.items():
            found.config.set("Auth", key, value.replace("%", "%%"))
            origins[("Auth", found.config.optionxform(key))] = source
        found.oidc_token_endpoint = token_endpoint
        found.oidc_authorization_endpoint = authorization_endpoint
        found.oidc_device_authorization_endpoint = device_authorization_endpoint
        found.oidc_interactive_supported = interactive
        found.oidc_non_interactive_supported = non_interactive
        return found


SIGN_IN_KEYS = (
    "ClientSecret",
    "TokenEndpoint",
    "AuthorizationEndpoint",
    "DeviceAuthorizationEndpoint",
    "TokenHosts",
)
"""The ``[Auth]`` keys that belong to an environment's own catalogue: its identity provider,
the secret registered there and the hosts its token is for. ``ClientId`` is a public name."""

FLOW_KEYS = {
    "NonInteractiveSupported": ("TokenEndpoint",),
    "InteractiveSupported": ("TokenEndpoint", "AuthorizationEndpoint"),
}
"""Each flow's switch and the endpoints it needs: a catalogue's own file that names the
endpoints but not the switches gets the flows those endpoints allow."""


def _sign_in_stays_home(parser: _SourcedConfigParser) -> None:
    """Clear the bundled environment's sign-in when the catalogue is not that environment's.

    Only what the bundled file set is cleared (its origin says so, and the message of a value
    read from it then says why); a user's file naming an identity provider keeps it.
    """
    environment, bundled = parser.environment, parser.bundled_source
    url = parser.get("Catalogue", "URL", fallback="")
    home = _home_url(environment) if environment is not None else ""
    if environment is None or _same_url(url, home):
        return
    why = f"{bundled}, cleared: {url.strip()} is not that environment's catalogue"

    def bundled_sets(key: str) -> bool:
        return parser.origins.get(("Auth", parser.optionxform(key))) == bundled

    for key in SIGN_IN_KEYS:
        if bundled_sets(key):
            parser.set("Auth", key, "")
            parser.origins[("Auth", parser.optionxform(key))] = why
    for flag, needs in FLOW_KEYS.items():
        if bundled_sets(flag):
            given = all(parser.get("Auth", key, raw=True, fallback="").strip() for key in needs)
            parser.set("Auth", flag, str(given))
            parser.origins[("Auth", parser.optionxform(flag))] = why


@functools.cache
def _home_url(environment: CatalogueEnvironment) -> str:
    """The catalogue URL of an environment's bundled file (read once: it is installed)."""
    bundled = configparser.ConfigParser(interpolation=None)
    bundled.read_string(_bundled_text(environment))
    return bundled.get("Catalogue", "URL")


def _same_url(a: str, b: str) -> bool:
    return a.strip().rstrip("/").lower() == b.strip().rstrip("/").lower()


def environment_at(url: str) -> CatalogueEnvironment | None:
    """The bundled environment whose catalogue is at ``url``, else ``None``."""
    for environment in CatalogueEnvironment:
        if _same_url(url, _home_url(environment)):
            return environment
    return None


def _default_token_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "terracat" / "tokens.json"


def _closest(name: str, known: list[str]) -> str | None:
    """The known name nearest ``name`` (difflib), else ``None``.

    Compared without case: configparser keeps section names as written but lower-cases keys.
    """
    lowered = {candidate.lower(): candidate for candidate in known}
    found = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[found[0]] if found else None


def _did_you_mean(near: str | None, show: str) -> str:
    return f" (did you mean {show}?)" if near else ""


def _presence(secret: str) -> str:
    return "<set>" if secret else "<empty>"


def _check_environment(environment: Any) -> CatalogueEnvironment:
    if not isinstance(environment, CatalogueEnvironment):
        valid = ", ".join(f"CatalogueEnvironment.{e.name}" for e in CatalogueEnvironment)
        raise ConfigurationException(
            f"Unknown catalogue environment {environment!r}; valid values are {valid}."
        )
    return environment


def _bundled_text(environment: CatalogueEnvironment) -> str:
    """The bundled ``.ini`` file of an environment, read from the installed package."""
    resource = resources.files("terracat").joinpath("resources", environment.value)
    return resource.read_text(encoding="utf-8")


def _bundled_parser(environment: Any) -> _SourcedConfigParser:
    checked = _check_environment(environment)
    parser = _SourcedConfigParser(checked)
    parser.read_layer(_bundled_text(checked), source=parser.bundled_source)
    return parser


def _read_file(path: Any) -> str:
    """Read a user's configuration file, failing loudly where the reference skips silently."""
    if not isinstance(path, str | os.PathLike):
        raise ConfigurationException(
            f"A configuration file path must be a str or os.PathLike, not {type(path).__name__}: "
            f"{path!r}."
        )
    name = os.fspath(path)
    try:
        # utf-8-sig: files saved by Windows editors start with a byte-order mark.
        with open(name, encoding="utf-8-sig") as file:
            return file.read()
    except FileNotFoundError as error:
        raise ConfigurationException(f"The configuration file {name} does not exist.") from error
    except UnicodeDecodeError as error:
        raise ConfigurationException(
            f"The configuration file {name} is not UTF-8 text: {error}."
        ) from error
    except OSError as error:
        raise ConfigurationException(
            f"The configuration file {name} cannot be read: {error.strerror or error}."
        ) from error
