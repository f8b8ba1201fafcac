"""``file:checksum`` (issue 16): a STAC asset's multihash verifies the downloaded bytes.

The local catalogue's STAC face gives every file it serves a sha2-256 multihash; a frame built
from its ``/stac/search`` answer downloads verified. Other bytes come from a HostileServer that
serves the same files' lengths with different bytes: the row fails naming the file and both
digests, and no file (not even the partial) is left.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import warnings
from pathlib import Path

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from terracat import Catalogue, ProductFileType
from terracat.exceptions import TerracatWarning
from terracat.frame.builder import FrameBuilder
from terracat.protocols.stac import StacDecoder, decode_stac_page
from terracat.server import LocalCatalogue
from terracat.server.content import read
from terracat.transfer import PARTIAL_SUFFIX
from terracat.transfer.checksum import (
    HASH_FUNCTIONS,
    asset_checksums,
    multihash,
    parse_multihash,
)

from ..hostile import HostileServer, send
from .test_stac_downloads import TOC, _stac_config

NAMES = [name for name, _ in HASH_FUNCTIONS.values()]


@pytest.fixture(scope="module")
def signed(local_catalogue: LocalCatalogue) -> Catalogue:
    return Catalogue(_stac_config(local_catalogue)).authenticate_non_interactive("demo", "demo")


@pytest.fixture(scope="module")
def anonymous(local_catalogue: LocalCatalogue) -> Catalogue:
    return Catalogue(_stac_config(local_catalogue))


def _search_text(local: LocalCatalogue, limit: int = 1) -> str:
    answer = requests.get(
        f"{local.url}stac/search", params={"collections": TOC, "limit": limit}, timeout=60
    )
    answer.raise_for_status()
    return answer.text


def _frame_of(text: str, source: str):
    builder = FrameBuilder(decoder=StacDecoder(), source=source)
    builder.add(decode_stac_page(text.encode()).features)
    return builder.build()


def _served(path: str, length: int) -> bytes:
    return read(path, 0, length)


def _other_bytes(request, connection) -> None:
    """The file's length, other bytes (ranges answered too, from the same other bytes)."""
    length = int(request.param("n"))
    body = bytes(reversed(_served(request.path, length)))
    wanted = request.headers.get("range")
    if wanted:
        start = int(wanted.split("=")[1].split("-")[0])
        send(
            connection,
            206,
            body[start:],
            {"Content-Range": f"bytes {start}-{length - 1}/{length}"},
        )
    else:
        send(connection, 200, body)


def _served_elsewhere(text: str, local: LocalCatalogue, server: HostileServer) -> str:
    """The search answer with every asset on ``server``, its length in the query string."""
    item = json.loads(text)
    for feature in item["features"]:
        for asset in feature["assets"].values():
            path = asset["href"].removeprefix(local.url.rstrip("/"))
            asset["href"] = server.url(f"{path}?n={asset['file:size']}")
            asset.pop("alternate", None)
    return json.dumps(item)


# ---- pure ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@given(data=st.binary(max_size=300))
def test_multihash_round_trips_for_every_function(name, data) -> None:
    parsed = parse_multihash(multihash(name, data))
    assert parsed.known and parsed.name == name
    expected = parsed.new_hash()
    expected.update(data)
    assert parsed.digest == expected.hexdigest()


def test_multihash_layout_is_the_spec_one() -> None:
    assert multihash("sha2-256", b"") == "1220" + hashlib.sha256(b"").hexdigest()
    assert multihash("blake2b-256", b"x").startswith("a0e40220")  # varint 0xb220, 32 bytes
    assert parse_multihash("1e03abcdef").name == "0x1e"  # blake3: not known
    assert not parse_multihash("1e03abcdef").known


@given(st.text(max_size=40))
def test_bad_multihashes_are_value_errors(text) -> None:
    """Any text parses or is a ValueError: never another exception."""
    with contextlib.suppress(ValueError):
        assert parse_multihash(text).digest


@pytest.mark.parametrize("text", ["", "12", "1220ab", "zz", "12ff"])
def test_malformed_multihashes_are_refused(text) -> None:
    with pytest.raises(ValueError):
        parse_multihash(text)


@pytest.mark.parametrize("properties", [None, "{}", "not json file:checksum", {"assets": 3}, "[]"])
def test_properties_without_assets_give_no_checksum(properties) -> None:
    assert asset_checksums(properties) == {}


# ---- over HTTP ----------------------------------------------------------------------------------


def test_the_stac_face_gives_the_served_bytes_checksum(local_catalogue) -> None:
    feature = json.loads(_search_text(local_catalogue))["features"][0]
    assert feature["assets"]
    for asset in feature["assets"].values():
        path = asset["href"].removeprefix(local_catalogue.url.rstrip("/"))
        body = _served(path, asset["file:size"])
        assert asset["file:checksum"] == "1220" + hashlib.sha256(body).hexdigest()


def test_a_good_download_verifies(local_catalogue, signed, tmp_path) -> None:
    text = _search_text(local_catalogue)
    report = _frame_of(text, local_catalogue.url).terracat.download(
        tmp_path, catalogue=signed, progress=False
    )
    assert (report["status"] == "downloaded").all(), report[["status", "error"]]
    checksums = asset_checksums(json.loads(text)["features"][0])
    assert len(checksums) >= len(report)
    for row in report.itertuples():
        assert any(
            value == "1220" + hashlib.sha256(Path(row.path).read_bytes()).hexdigest()
            for value in checksums.values()
        )


def test_other_bytes_fail_the_row_and_leave_no_file(local_catalogue, anonymous, tmp_path) -> None:
    text = _search_text(local_catalogue)
    with HostileServer(_other_bytes) as server:
        frame = _frame_of(_served_elsewhere(text, local_catalogue, server), server.url("/"))
        report = frame.terracat.download(
            tmp_path, catalogue=anonymous, progress=False, raise_on_failure=False
        )
    assert len(report) and (report["status"] == "failed").all(), report[["status", "error"]]
    row = report.iloc[0]
    name = Path(row["path"]).name
    assert name in row["error"] and "expected sha2-256" in row["error"]
    served = _served(
        row["href"].split("?")[0].removeprefix(server.url("/").rstrip("/")),
        int(row["href"].split("n=")[1]),
    )
    assert hashlib.sha256(served).hexdigest() in row["error"]  # expected
    assert hashlib.sha256(bytes(reversed(served))).hexdigest() in row["error"]  # found
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def _first_file_half_done(local: LocalCatalogue, root: Path):
    """A one-product frame of the face, and where its first data file and its partial go."""
    frame = _frame_of(_search_text(local), local.url)
    files = frame.terracat.files("data")
    href, length = files["href"].iloc[0], int(files["length"].iloc[0])
    path = href.removeprefix(local.url.rstrip("/"))
    target = root / frame["id"].iloc[0] / Path(path).name
    target.parent.mkdir(parents=True)
    return frame, path, length, target, target.with_name(target.name + PARTIAL_SUFFIX)


def test_a_resume_is_verified_from_the_partial_file_on(local_catalogue, signed, tmp_path) -> None:
    frame, path, length, target, partial = _first_file_half_done(local_catalogue, tmp_path)
    partial.write_bytes(_served(path, length)[: length // 2])
    report = frame.terracat.download(tmp_path, catalogue=signed, progress=False)
    mine = report[report["path"] == str(target)].iloc[0]
    assert mine["status"] == "resumed" and mine["bytes"] == length - length // 2
    assert target.read_bytes() == _served(path, length)


def test_a_resumed_partial_with_wrong_bytes_fails_and_is_not_resumed_again(
    local_catalogue, signed, tmp_path
) -> None:
    frame, path, length, target, partial = _first_file_half_done(local_catalogue, tmp_path)
    partial.write_bytes(b"\0" * (length // 2))  # the right size to resume from, wrong bytes
    report = frame.terracat.download(
        tmp_path, catalogue=signed, progress=False, raise_on_failure=False
    )
    mine = report[report["path"] == str(target)].iloc[0]
    assert mine["status"] == "failed" and "file:checksum" in mine["error"]
    assert not partial.exists() and not target.exists()
    again = frame.terracat.download(tmp_path, catalogue=signed, progress=False)
    assert again[again["path"] == str(target)].iloc[0]["status"] == "downloaded"
    assert target.read_bytes() == _served(path, length)


def test_an_unknown_hash_function_downloads_unverified_with_one_warning(
    local_catalogue, signed, tmp_path
) -> None:
    text = _search_text(local_catalogue, limit=2)
    unknown = json.loads(text)
    for feature in unknown["features"]:
        for asset in feature["assets"].values():
            asset["file:checksum"] = "1e20" + "00" * 32  # blake3, which hashlib has not
    frame = _frame_of(json.dumps(unknown), local_catalogue.url)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = frame.terracat.download(tmp_path, catalogue=signed, progress=False)
    assert (report["status"] == "downloaded").all(), report[["status", "error"]]
    ours = [w for w in caught if issubclass(w.category, TerracatWarning)]
    assert len(ours) == 1 and "0x1e" in str(ours[0].message)


def test_the_documented_download_methods_verify_too(local_catalogue, anonymous, tmp_path) -> None:
    text = _search_text(local_catalogue)
    with HostileServer(_other_bytes) as server:
        frame = _frame_of(_served_elsewhere(text, local_catalogue, server), server.url("/"))
        product = next(frame.terracat.products())
        data = ProductFileType.DATA
        many = anonymous.download_products(
            [product], tmp_path / "many", data, force=True, raise_on_failure=False
        )
        one = anonymous.download_product(product, tmp_path / "one", data, raise_on_failure=False)
    for report in (many, one):
        assert len(report) and (report["status"] == "failed").all(), report[["status", "error"]]
        assert "expected sha2-256" in report.iloc[0]["error"]
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
