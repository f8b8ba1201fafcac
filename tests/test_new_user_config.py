"""What a new user trips over in configuration and parameters (issue 18), refused before anything
is sent and named so that the fix is obvious."""

from __future__ import annotations

import configparser
import functools
import os
import re
import socket
import string
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import terracat
from terracat import _defaults
from terracat.catalogue import default_catalogue
from terracat.config import CatalogueConfig, CatalogueEnvironment
from terracat.config import _bundled_text as bundled_text
from terracat.exceptions import ConfigurationException, ParameterParserException, SearchException
from terracat.protocols.opensearch.encode import product_query
from terracat.request import FILTERS, SearchRequest, misspelled_filter
from terracat.server import LocalCatalogue
from tests.hostile import HostileServer, Request, send

ROOT = Path(__file__).resolve().parent.parent


def write_ini(tmp_path: Path, text: str, name: str = "catalogue.ini") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def known_names() -> set[tuple[str, str]]:
    """(section, lower-cased key) as CatalogueConfig reads them: the one list of known names."""
    return set(CatalogueConfig.get_default_config()._known_names)


# --- 1. unknown sections and keys -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "wrong", "closest"),
    [
        ("[Catalgue]\nURL = http://127.0.0.1:1/\n", "[Catalgue]", "[Catalogue]"),
        ("[catalogue]\nURL = http://127.0.0.1:1/\n", "[catalogue]", "[Catalogue]"),
        ("[HTTP]\nSearchWorker = 3\n", "[HTTP] searchworker", "[HTTP] SearchWorkers"),
        (
            "[HTTP]\npagesize = 3\n[Auth]\nTokenHost = https://x.org\n",
            "tokenhost",
            "[Auth] TokenHosts",
        ),
        ("[S3]\nEndpointURl = https://x.org\n", "[S3] endpointurl", None),  # case: accepted
        ("[DEFAULT]\nSearchWorker = 3\n", "[DEFAULT] searchworker", "[DEFAULT] SearchWorkers"),
    ],
)
def test_an_unknown_section_or_key_names_the_file_and_the_closest_known_one(
    tmp_path: Path, text: str, wrong: str, closest: str | None
) -> None:
    path = write_ini(tmp_path, text)
    if closest is None:
        CatalogueConfig.from_file(path)  # configparser lower-cases keys: any case is the key
        return
    with pytest.raises(ConfigurationException) as caught:
        CatalogueConfig.from_file(path)
    message = str(caught.value)
    assert wrong in message
    assert str(path) in message
    assert f"did you mean {closest}?" in message


def test_a_name_far_from_all_is_refused_listing_the_known_ones(tmp_path: Path) -> None:
    path = write_ini(tmp_path, "[HTTP]\nZzz = 1\n")
    with pytest.raises(ConfigurationException, match="zzz") as caught:
        CatalogueConfig.from_file(path)
    assert "did you mean" not in str(caught.value)
    assert "SearchWorkers" in str(caught.value)


def test_an_unknown_key_of_a_plain_configparser_is_refused() -> None:
    parser = configparser.ConfigParser()
    parser.read_string(bundled_text(CatalogueEnvironment.CGLS) + "\n[Extra]\nx = 1\n")
    with pytest.raises(ConfigurationException, match=r"\[Extra\]"):
        CatalogueConfig(parser)


def test_a_missing_section_points_at_its_misspelling() -> None:
    parser = configparser.ConfigParser()
    text = bundled_text(CatalogueEnvironment.CGLS).replace("[Catalogue]", "[Catalgue]")
    parser.read_string(text)
    with pytest.raises(ConfigurationException, match=r"\[Catalgue\] is there"):
        CatalogueConfig(parser)


@pytest.mark.parametrize("environment", list(CatalogueEnvironment))
def test_every_bundled_file_with_its_optional_keys_uncommented_is_accepted(
    tmp_path: Path, environment: CatalogueEnvironment
) -> None:
    text = bundled_text(environment)
    # '# PageSize = <...>': the optional keys each file documents, given a value
    optional = re.findall(r"^# (\w+) = <", text, flags=re.MULTILINE)
    assert optional, "each bundled file documents its optional keys"
    values = {"VerifyTLS": "False", "Protocol": "opensearch"}
    http = "".join(f"{key} = {values.get(key, '7')}\n" for key in optional if key != "Protocol")
    path = write_ini(tmp_path, f"[HTTP]\n{http}")
    config = CatalogueConfig.from_environment(environment, path)
    assert config.search_workers == 7


def _ini_blocks(text: str) -> list[str]:
    fenced = re.findall(r"```ini\n(.*?)```", text, flags=re.DOTALL)
    rst = re.findall(r"\.\. code-block:: ini\n\n((?:    .*\n|\n)+)", text)
    return fenced + [textwrap.dedent(block) for block in rst]


DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.rst"))]


def test_every_ini_example_in_the_readme_and_the_docs_is_accepted(tmp_path: Path) -> None:
    blocks = [block for doc in DOCUMENTS for block in _ini_blocks(doc.read_text())]
    assert len(blocks) >= 3
    for number, block in enumerate(blocks):
        CatalogueConfig.from_file(write_ini(tmp_path, block, f"example{number}.ini"))


def test_every_section_and_key_the_readme_and_the_docs_name_is_known() -> None:
    known = known_names()
    named = {
        (section, key.lower())
        for doc in DOCUMENTS
        for section, key in re.findall(
            r"\[(Catalogue|Auth|HTTP|S3)\] ?`{0,2}([A-Z][A-Za-z]+)", doc.read_text()
        )
    }
    assert len(named) >= 10
    assert named <= known, named - known


# --- 2. whether [HTTP] PageSize was given -----------------------------------------------------


def test_page_size_given_only_when_written(tmp_path: Path) -> None:
    assert not CatalogueConfig.get_default_config().page_size_given
    stac = CatalogueConfig.from_environment(CatalogueEnvironment.TERRASCOPE_STAC)
    assert not stac.page_size_given
    written = write_ini(tmp_path, f"[HTTP]\nPageSize = {_defaults.PAGE_SIZE}\n")
    config = CatalogueConfig.from_environment(CatalogueEnvironment.TERRASCOPE_STAC, written)
    assert config.page_size_given
    assert config.page_size == _defaults.PAGE_SIZE


def test_assigning_page_size_marks_it_given() -> None:
    config = CatalogueConfig.from_environment(CatalogueEnvironment.TERRASCOPE_STAC)
    config.page_size = _defaults.PAGE_SIZE
    assert config.page_size_given
    assert config.page_size == _defaults.PAGE_SIZE


# --- 3. the default catalogue from Python -----------------------------------------------------

NDVI = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"


def test_terracat_url_points_terracat_search_at_another_catalogue(
    local_catalogue: LocalCatalogue,
) -> None:
    script = (
        "import terracat\n"
        f"df = terracat.search({NDVI!r}, start='2022-02-01', end='2022-03-01', limit=3)\n"
        "print(len(df), df['collection'].iloc[0], df.attrs['terracat']['catalogue'])\n"
        f"print(terracat.count({NDVI!r}, start='2022-02-01', end='2022-03-01'))\n"
    )
    env = {**os.environ, "TERRACAT_URL": local_catalogue.url, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first == f"3 {NDVI} {local_catalogue.url}"
    assert int(second) > 3


def test_a_terracat_url_that_is_not_a_url_names_the_variable() -> None:
    script = "import terracat\nterracat.search('x')\n"
    env = {**os.environ, "TERRACAT_URL": "localhost:8080", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "ConfigurationException: The environment variable TERRACAT_URL" in done.stderr


@pytest.mark.parametrize("form", ["url", "catalogue", "config"])
def test_set_default_catalogue_takes_a_url_a_catalogue_or_a_config(
    local_catalogue: LocalCatalogue, form: str
) -> None:
    given = {
        # not the URL as other tests spell it: catalogue_at keeps one Catalogue per spelling
        "url": local_catalogue.url.rstrip("/"),
        "catalogue": terracat.Catalogue(local_catalogue.config()),
        "config": local_catalogue.config(),
    }[form]
    before = len(local_catalogue.app.requests)
    terracat.set_default_catalogue(given)
    try:
        frame = terracat.search(NDVI, start="2022-02-01", end="2022-03-01", limit=2)
        collections = terracat.collections()
    finally:
        terracat.set_default_catalogue(None)
    assert len(frame) == 2
    assert NDVI in set(collections["id"])
    assert len(local_catalogue.app.requests) > before
    assert default_catalogue().config.catalogue_url != local_catalogue.url  # reset


@pytest.mark.parametrize("wrong", [42, b"http://x/", ["http://x/"]])
def test_set_default_catalogue_refuses_anything_else(wrong: object) -> None:
    with pytest.raises(ConfigurationException, match="set_default_catalogue takes"):
        terracat.set_default_catalogue(wrong)  # type: ignore[arg-type]


# --- 4. misspelled keyword filters ------------------------------------------------------------

FILTER_NAMES = [f.name for f in FILTERS]
LETTERS = st.characters(min_codepoint=ord("A"), max_codepoint=ord("z"))


@st.composite
def one_edit_or_case_away(draw: st.DrawFn) -> tuple[str, str]:
    """A known filter and a variant of it: one letter inserted, deleted, replaced or swapped
    with its neighbour, and any letters' case changed."""
    name = draw(st.sampled_from(FILTER_NAMES))
    at = draw(st.integers(0, len(name) - 1))
    edit = draw(st.sampled_from(["insert", "delete", "replace", "swap", "case"]))
    letter = draw(LETTERS)
    variant = {
        "insert": name[:at] + letter + name[at:],
        "delete": name[:at] + name[at + 1 :],
        "replace": name[:at] + letter + name[at + 1 :],
        "swap": name[:at] + name[at + 1 : at + 2] + name[at : at + 1] + name[at + 2 :],
        "case": name,
    }[edit]
    flips = draw(st.lists(st.booleans(), min_size=len(variant), max_size=len(variant)))
    variant = "".join(c.swapcase() if flip else c for c, flip in zip(variant, flips, strict=True))
    assume(variant not in FILTER_NAMES and variant != "limit")
    return name, variant


@given(one_edit_or_case_away())
@settings(max_examples=300, deadline=None)
def test_every_near_miss_of_a_filter_name_is_refused_naming_the_filter(
    pair: tuple[str, str],
) -> None:
    name, variant = pair
    with pytest.raises(ParameterParserException) as caught:
        SearchRequest.for_products(NDVI, **{variant: "x"})
    assert f"'{variant}'" in str(caught.value)
    assert misspelled_filter(variant, (name,)) == name
    # the filter named is one the variant is near (two filters may be near the same variant)
    named = re.search(r"did you mean (\w+)=", str(caught.value))
    assert named is not None
    assert misspelled_filter(variant, (named.group(1),)) == named.group(1)


@given(st.text(alphabet=string.ascii_letters + "_:", min_size=1, max_size=20))
@example("collection")  # the search's own positional parameter's name (was a TypeError)
@example("cls")
@settings(max_examples=300, deadline=None)
def test_a_name_far_from_every_filter_passes_through(name: str) -> None:
    lowered = name.lower()
    far = all(_levenshtein(lowered, known.lower()) >= 3 for known in (*FILTER_NAMES, "limit"))
    assume(far)
    assert SearchRequest.for_products(NDVI, **{name: "x"}).extra == {name: "x"}


def _levenshtein(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


@pytest.mark.parametrize(
    ("wrong", "right"),
    [("cloudcover", "cloudCover"), ("tileID", "tileId"), ("cloudCove", "cloudCover")],
)
def test_the_issue_s_misspellings_are_refused_before_sending(
    local_catalogue: LocalCatalogue, wrong: str, right: str
) -> None:
    catalogue = terracat.Catalogue(local_catalogue.config())
    before = len(local_catalogue.app.requests)
    with pytest.raises(ParameterParserException, match=f"did you mean {right}="):
        catalogue.search(NDVI, start="2022-02-01", end="2022-03-01", **{wrong: "10"})
    assert len(local_catalogue.app.requests) == before


def test_genuinely_new_parameters_still_reach_the_catalogue(
    local_catalogue: LocalCatalogue,
) -> None:
    catalogue = terracat.Catalogue(local_catalogue.config())
    catalogue.search(NDVI, start="2022-02-01", end="2022-03-01", limit=1, sortKeys="title")
    products = [r for r in local_catalogue.app.requests if r.startswith("/products")]
    assert "sortKeys=title" in products[-1]


# --- 5. interval text checked before sending --------------------------------------------------

NUMBER = st.one_of(
    st.integers(-1000, 1000).map(str),
    st.floats(-1000, 1000, allow_nan=False).map(repr),
    st.decimals(-1000, 1000, places=3, allow_nan=False).map(str),
)


@st.composite
def number_text(draw: st.DrawFn) -> str:
    """Every form of OpenSearch's value syntax for numbers, with spaces here and there."""
    a, b = sorted((draw(NUMBER), draw(NUMBER)), key=float)
    space = draw(st.sampled_from(["", " "]))
    form = draw(st.integers(0, 4))
    if form == 0:
        return f"{space}{a}{space}"
    if form == 1:
        members = draw(st.lists(NUMBER, min_size=1, max_size=4))
        return "{" + f",{space}".join(members) + "}"
    if form == 2:
        return f"{draw(st.sampled_from('[]'))}{a},{space}{b}{draw(st.sampled_from('[]'))}"
    if form == 3:
        return f"{draw(st.sampled_from('[]'))}{a}"
    return f"{b}{draw(st.sampled_from('[]'))}"


@given(number_text(), st.sampled_from(["cloudCover", "relativeOrbitNumber"]))
@settings(max_examples=300, deadline=None)
def test_every_form_of_the_value_syntax_is_sent_as_written(text: str, parameter: str) -> None:
    assert product_query(NDVI, **{parameter: text})[parameter] == text


@given(st.text(max_size=12), st.sampled_from(["cloudCover", "relativeOrbitNumber"]))
@settings(max_examples=300, deadline=None)
def test_text_outside_the_value_syntax_is_refused_naming_the_parameter(
    text: str, parameter: str
) -> None:
    assume(not re.fullmatch(r"[\s\d.eE+\-\[\]{},]*", text))  # letters or other signs in it
    with pytest.raises(ParameterParserException, match=f"'{parameter}' parameter"):
        SearchRequest.for_products(NDVI, **{parameter: text})


@pytest.mark.parametrize("text", ["abc", "", "10-60", "[60,10]", "60,70", "{}", "1e999]"])
def test_malformed_interval_text_sends_nothing(text: str) -> None:
    def answer(request: Request, connection: socket.socket) -> None:
        send(connection, 500, b"should not be asked", {"Content-Type": "text/plain"})

    with HostileServer(answer) as server:
        config = CatalogueConfig.from_url(server.url("/"), protocol="opensearch")
        with pytest.raises(ParameterParserException, match="'cloudCover' parameter"):
            terracat.search(NDVI, catalogue=terracat.Catalogue(config), cloudCover=text)
        assert server.requests == []


# --- 6. --param clashes on the command line ---------------------------------------------------

TERRACAT = str(Path(sys.executable).parent / "terracat")


@pytest.mark.parametrize(
    ("command", "param", "use"),
    [
        ("search", "cloudCover=10", "--cloud-cover"),
        ("search", "start=2022-02-01", "--start"),
        ("search", "bbox=4,50,5,51", "--bbox"),
        ("search", "limit=3", "--limit"),
        ("search", "split=true", "--split"),
        ("search", "output=x.parquet", "--output"),
        ("count", "cloudCover=10", "--cloud-cover"),
        ("count", "cloudcover=10", "--cloud-cover"),
        ("count", "end=2022-03-01", "--end"),
        ("count", "geometry=POINT(4 50)", "--geometry"),
        ("count", "collection=x", "the COLLECTION argument"),
    ],
)
def test_a_param_naming_a_built_in_option_is_one_line_and_exit_2(
    local_catalogue: LocalCatalogue, command: str, param: str, use: str
) -> None:
    before = len(local_catalogue.app.requests)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERRACAT_URL": local_catalogue.url}
    done = subprocess.run(
        [TERRACAT, command, NDVI, "--param", param, "--param", "sortKeys=title"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"error: --param {param} clashes")
    assert f"use {use} instead" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(local_catalogue.app.requests) == before  # refused while reading the options


def test_a_param_that_names_no_option_still_reaches_the_catalogue(
    local_catalogue: LocalCatalogue,
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERRACAT_URL": local_catalogue.url}
    done = subprocess.run(
        [TERRACAT, "count", NDVI, "--start", "2022-02-01", "--param", "orbitDirection=DESCENDING"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    products = [r for r in local_catalogue.app.requests if r.startswith("/products")]
    assert "orbitDirection=DESCENDING" in products[-1]


# --- 7. a misspelled collection on OpenSearch -------------------------------------------------


def test_a_misspelled_collection_names_the_closest_the_catalogue_has(
    local_catalogue: LocalCatalogue,
) -> None:
    catalogue = terracat.Catalogue(local_catalogue.config())
    wrong = ["urn:eop:VITO:TERRASCOPE_S2_NDVI_V3", "urn:eop:VITO:TERRASCOPE_S2_NDV_V2"]
    before = sum(r.startswith("/collections") for r in local_catalogue.app.requests)
    for attempt in (lambda: catalogue.search(wrong[0], limit=2), lambda: catalogue.count(wrong[1])):
        with pytest.raises(SearchException) as caught:
            attempt()
        message = str(caught.value)
        assert "Unknown collection" in message  # the catalogue's own words stay
        assert f"the closest collections {local_catalogue.url} has: {NDVI}" in message
    after = sum(r.startswith("/collections") for r in local_catalogue.app.requests)
    assert after - before == 1  # looked up once


def test_a_collection_close_to_none_says_so(local_catalogue: LocalCatalogue) -> None:
    catalogue = terracat.Catalogue(local_catalogue.config())
    with pytest.raises(SearchException, match="has no collection close to it"):
        list(catalogue.get_products("zzz"))


def test_cloud_cover_takes_the_interval_syntax_that_param_can_no_longer_give(
    local_catalogue: LocalCatalogue,
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERRACAT_URL": local_catalogue.url}
    args = [TERRACAT, "count", NDVI, "--start", "2022-02-01", "--end", "2022-03-01"]
    run = functools.partial(subprocess.run, env=env, capture_output=True, text=True, timeout=60)
    interval = run([*args, "--cloud-cover", "[0,20]"])
    assert interval.returncode == 0, interval.stderr
    products = [r for r in local_catalogue.app.requests if r.startswith("/products")]
    assert parse_qs(urlsplit(products[-1]).query)["cloudCover"] == ["[0,20]"]
    bad = run([*args, "--cloud-cover", "abc"])
    expected = terracat.count(
        NDVI,
        catalogue=terracat.Catalogue(local_catalogue.config()),
        start="2022-02-01",
        end="2022-03-01",
        cloudCover=20,
    )
    assert int(interval.stdout) == expected > 0
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: Failed to parse the value of the 'cloudCover'")


# --- 8. a catalogue's own sign-in, and --config with --url ------------------------------------


def test_a_file_moving_the_catalogue_elsewhere_drops_terrascope_s_sign_in(tmp_path: Path) -> None:
    moved = CatalogueConfig.from_file(
        write_ini(tmp_path, "[Catalogue]\nURL = http://127.0.0.1:8080/\n")
    )
    assert not moved.sign_in_given and moved.token_hosts == ()
    assert not moved.oidc_interactive_supported and not moved.oidc_non_interactive_supported
    realm = "http://127.0.0.1:8080/auth/realms/terrascope/protocol/openid-connect"
    own = CatalogueConfig.from_file(
        write_ini(
            tmp_path,
            f"""
            [Catalogue]
            URL = http://127.0.0.1:8080/
            [Auth]
            TokenEndpoint = {realm}/token
            """,
        )
    )
    # the file's identity provider is kept, with the flows its endpoints allow
    assert own.oidc_token_endpoint == f"{realm}/token" and own.oidc_authorization_endpoint == ""
    assert own.oidc_non_interactive_supported and not own.oidc_interactive_supported
    assert own.token_hosts == ()  # Terrascope's download service gets no local token
    home = CatalogueConfig.from_file(write_ini(tmp_path, "[HTTP]\nRetries = 1\n"))
    assert home.at_home and home.token_hosts == ("https://services.terrascope.be/download/",)


def _count(args: list[str], env_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TERRACAT_URL"}
    env["PYTHONPATH"] = str(ROOT)
    if env_url is not None:
        env["TERRACAT_URL"] = env_url
    return subprocess.run(
        [TERRACAT, "count", NDVI, *args], env=env, capture_output=True, text=True, timeout=60
    )


def _closed_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/"


@pytest.mark.parametrize("given", ["option", "variable"])
def test_config_with_url_is_read_and_checked_as_that_catalogue_s_configuration(
    local_catalogue: LocalCatalogue, tmp_path: Path, given: str
) -> None:
    def run(path: Path) -> subprocess.CompletedProcess[str]:
        if given == "option":
            return _count(["--url", local_catalogue.url, "--config", str(path)])
        return _count(["--config", str(path)], env_url=local_catalogue.url)

    misspelt = run(write_ini(tmp_path, "[Catalgue]\nURL = http://127.0.0.1:1/\n"))
    assert misspelt.returncode == 2 and misspelt.stderr.count("\n") == 1, misspelt.stderr
    assert "[Catalgue]" in misspelt.stderr and str(tmp_path) in misspelt.stderr
    malformed = run(write_ini(tmp_path, "[HTTP]\nPageSize = abc\n"))
    assert malformed.returncode == 2 and "[HTTP] PageSize = 'abc'" in malformed.stderr
    before = len(local_catalogue.app.requests)
    applied = run(write_ini(tmp_path, "[HTTP]\nSearchTimeout = 7\n"))
    assert applied.returncode == 0, applied.stderr
    assert int(applied.stdout) > 0 and len(local_catalogue.app.requests) > before


def test_url_wins_over_the_file_s_url_and_the_file_s_over_terracat_url(
    local_catalogue: LocalCatalogue, tmp_path: Path
) -> None:
    elsewhere = write_ini(tmp_path, f"[Catalogue]\nURL = {_closed_url()}\n", "elsewhere.ini")
    assert _count(["--url", local_catalogue.url, "--config", str(elsewhere)]).returncode == 0
    local = write_ini(tmp_path, f"[Catalogue]\nURL = {local_catalogue.url}\n", "local.ini")
    done = _count(["--config", str(local)], env_url=_closed_url())
    assert done.returncode == 0, done.stderr
    unnamed = write_ini(tmp_path, "[HTTP]\nRetries = 0\n", "unnamed.ini")
    assert _count(["--config", str(unnamed)], env_url=local_catalogue.url).returncode == 0


# --- 9. terracat's own search keywords are not catalogue parameters ---------------------------


@pytest.mark.parametrize(
    ("command", "param"),
    [
        ("download", "split=true"),
        ("count", "split=true"),
        ("count", "limit=3"),
        ("count", "Limit=3"),
    ],
)
def test_a_param_naming_a_keyword_the_command_has_no_option_for_is_one_line_and_exit_2(
    local_catalogue: LocalCatalogue, tmp_path: Path, command: str, param: str
) -> None:
    before = len(local_catalogue.app.requests)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERRACAT_URL": local_catalogue.url}
    where = [str(tmp_path / "out")] if command == "download" else []
    done = subprocess.run(
        [TERRACAT, command, NDVI, *where, "--param", param],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    key = param.partition("=")[0]
    assert done.returncode == 2
    assert done.stderr == (
        f"error: --param {param}: {key} is a keyword of terracat's, not a catalogue parameter, "
        f"and terracat {command} has no option for it.\n"
    )
    assert len(local_catalogue.app.requests) == before and not (tmp_path / "out").exists()


@pytest.mark.parametrize("split", ["false", "true", 0, 1, None])
def test_split_takes_only_true_or_false(local_catalogue: LocalCatalogue, split: object) -> None:
    catalogue = terracat.Catalogue(local_catalogue.config())
    before = len(local_catalogue.app.requests)
    with pytest.raises(ParameterParserException, match=r"^split must be True or False, not "):
        terracat.search(NDVI, split=split, limit=1, catalogue=catalogue)
    assert len(local_catalogue.app.requests) == before


# --- 10. a STAC collection's card -------------------------------------------------------------


def test_a_stac_collection_s_card_shows_its_title_extent_bbox_and_links(
    local_catalogue: LocalCatalogue,
) -> None:
    import html

    stac = terracat.Catalogue.from_url(f"{local_catalogue.url}stac/")
    frame = terracat.collections(catalogue=stac)
    collection = next(c for c in stac.get_collections() if c.id == "terrascope-s2-ndvi-v2")
    assert collection.id in set(frame["id"])
    card = collection._repr_html_()
    assert card.startswith("<div><strong>terrascope-s2-ndvi-v2</strong><table>")
    assert f"<th>title</th><td>{html.escape(collection.properties['title'])}</td>" in card
    start, end = collection.properties["extent"]["temporal"]["interval"][0]
    assert f"<th>time extent</th><td>{start} to {end}</td>" in card
    west, south, east, north = collection.properties["extent"]["spatial"]["bbox"][0]
    assert f"<th>bbox</th><td>{west:g}, {south:g}, {east:g}, {north:g}</td>" in card
    types = collection.properties["summaries"]["product:type"]
    assert types and f"<th>product types</th><td>{html.escape(', '.join(types))}</td>" in card
    shown = [link for link in collection.properties["links"] if link["rel"] == "license"]
    assert shown and all(f'href="{html.escape(link["href"])}"' in card for link in shown)
