"""The local catalogue changing while it serves: products added, reprocessed and removed.

Each test runs its own small catalogue (the demo's first products of each collection), asks both
faces first so that every cache is full (indexes, serialised products and items, checksums,
materialised MEP files), changes it, and checks over HTTP what a client of ``terracat sync``
would see next: searches, counts, ``updated`` filters, downloads, ranges, checksums, local files.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

import terracat
from terracat.server import CollectionEntry, LocalCatalogue, build_demo_collections, content
from terracat.server.stac_items import served_checksum
from terracat.server.store import iter_files

S1 = "urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1"
S1_STAC = "cgs-s1-grd-sigma0-l1"
TOC = "urn:eop:VITO:TERRASCOPE_S2_TOC_V2"
PRODUCTS = 20  # per collection
MILLISECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@functools.cache
def _demo() -> tuple[CollectionEntry, ...]:
    return tuple(build_demo_collections(1e-3))


@pytest.fixture
def local() -> Any:
    """A catalogue of its own for each test, as the changes are the test's."""
    entries = [CollectionEntry(c.feature, c.products[:PRODUCTS], c.protected) for c in _demo()]
    with LocalCatalogue(entries) as catalogue:
        yield catalogue


# ---- what a client sees ------------------------------------------------------------------------


def _products(local: LocalCatalogue, collection: str = S1, **params: Any) -> dict[str, Any]:
    url = f"{local.url}products"
    page = requests.get(url, params={"collection": collection, "count": 1000, **params}, timeout=30)
    assert page.status_code == 200, page.text
    return page.json()


def _os_ids(local: LocalCatalogue, **params: Any) -> list[str]:
    page = _products(local, **params)
    ids = [f["id"] for f in page["features"]]
    assert page["totalResults"] == len(ids)
    return ids


def _search(local: LocalCatalogue, method: str = "GET", **params: Any) -> dict[str, Any]:
    url = f"{local.url}stac/search"
    if method == "GET":
        answer = requests.get(url, params={"collections": S1_STAC, "limit": 1000, **params})
    else:
        answer = requests.post(url, json={"collections": [S1_STAC], "limit": 1000, **params})
    assert answer.status_code == 200, answer.text
    return answer.json()


def _stac_ids(local: LocalCatalogue, method: str = "GET", **params: Any) -> list[str]:
    page = _search(local, method, **params)
    ids = [f["id"] for f in page["features"]]
    assert page["numberMatched"] == len(ids)
    return ids


def _items(local: LocalCatalogue) -> list[str]:
    url = f"{local.url}stac/collections/{S1_STAC}/items"
    page = requests.get(url, params={"limit": 1000}, timeout=30).json()
    assert page["numberMatched"] == len(page["features"])
    return [f["id"] for f in page["features"]]


def _item(local: LocalCatalogue, item_id: str) -> requests.Response:
    return requests.get(f"{local.url}stac/collections/{S1_STAC}/items/{item_id}", timeout=30)


def _download(local: LocalCatalogue, path: str, **headers: str) -> requests.Response:
    return requests.get(f"{local.url}{path.lstrip('/')}", headers=headers, timeout=30)


def _warm(local: LocalCatalogue) -> None:
    """Every cache filled: both faces' pages (http and MEP), items, checksums, local files."""
    _os_ids(local)
    _products(local, accessedFrom="MEP")
    _stac_ids(local)
    _stac_ids(local, "POST")
    _items(local)
    for item_id in _stac_ids(local)[:5]:
        assert _item(local, item_id).status_code == 200


def _short(product_id: str) -> str:
    return product_id.rpartition(":")[2]


def _stored(local: LocalCatalogue, position: int) -> dict[str, Any]:
    return local.store.collections[S1].products[position]


def _hrefs(feature: dict[str, Any]) -> list[str]:
    return [link["href"] for _, link in iter_files(feature)]


def _first_data(feature: dict[str, Any]) -> str:
    return str(feature["properties"]["links"]["data"][0]["href"])


def _name(href: str) -> str:
    return href.rpartition("/")[2]


def _when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _local_file(href: str) -> bytes:
    return Path(urlsplit(href).path).read_bytes()


def _stac_config(local: LocalCatalogue) -> Any:
    config = local.config()
    config.catalogue_url = local.url + "stac/"
    config.protocol = "stac"
    return config


# ---- adding ------------------------------------------------------------------------------------


def test_an_added_product_is_found_at_once_on_both_faces_with_counts_one_higher(local):
    _warm(local)
    like = _stored(local, 3)
    added = local.add_product(S1, like=like["id"], id="S1A_ADDED_V110")
    assert added["id"] == f"{S1}:S1A_ADDED_V110"
    ids = _os_ids(local)
    assert len(ids) == PRODUCTS + 1
    assert ids[ids.index(like["id"]) + 1] == added["id"]  # listed after the product it copies
    for method in ("GET", "POST"):
        found = _stac_ids(local, method)
        assert len(found) == PRODUCTS + 1 and "S1A_ADDED_V110" in found
    assert "S1A_ADDED_V110" in _items(local)
    item = _item(local, "S1A_ADDED_V110")
    assert item.status_code == 200
    assert item.json()["properties"]["updated"] == added["properties"]["updated"]
    assert _stac_ids(local, ids="S1A_ADDED_V110") == ["S1A_ADDED_V110"]
    assert added == _stored(local, ids.index(added["id"]))
    assert added["properties"]["published"] == added["properties"]["updated"]
    assert MILLISECONDS.match(added["properties"]["updated"])


def test_an_added_products_files_are_new_names_with_their_own_bytes(local):
    like = _stored(local, 0)
    added = local.add_product(S1, like=_short(like["id"]), id="S1A_ADDED_V110")
    old, new = _hrefs(like), _hrefs(added)
    assert len(new) == len(old) and not {_name(h) for h in new} & {_name(h) for h in old}
    for before, after in zip(old, new, strict=True):
        entry = local.store.files[after]
        assert entry.length == local.store.files[before].length
        served = _download(local, after)
        assert served.status_code == 200
        assert served.content == entry.read() == content.read(after, 0, entry.length)
        assert served.content != _download(local, before).content
    assets = _item(local, "S1A_ADDED_V110").json()["assets"]
    for asset in assets.values():
        served = _download(local, urlsplit(asset["href"]).path).content
        assert asset["file:checksum"] == "1220" + hashlib.sha256(served).hexdigest()


def test_an_added_product_of_a_protected_collection_needs_a_login_for_its_files(local):
    like = local.store.collections[TOC].products[0]
    added = local.add_product(TOC, like=like["id"], id="S2A_ADDED_31UDR_TOC_V210")
    answer = requests.get(
        f"{local.url}{_first_data(added).lstrip('/')}", allow_redirects=False, timeout=30
    )
    assert answer.status_code == 302 and "openid-connect/auth" in answer.headers["Location"]


def test_an_id_already_taken_or_unfit_for_file_names_is_refused(local):
    first, second = _stored(local, 0), _stored(local, 1)
    with pytest.raises(ValueError, match=re.escape(_short(second["id"]))):
        local.add_product(S1, like=first["id"], id=_short(second["id"]))
    with pytest.raises(ValueError, match="file paths"):
        local.add_product(S1, like=first["id"], id="a/b")
    assert len(_os_ids(local)) == PRODUCTS


# ---- removing ----------------------------------------------------------------------------------


def test_a_removed_product_is_gone_from_both_faces_and_its_files_answer_404(local):
    _warm(local)
    gone = _stored(local, 2)
    local_hrefs = [
        link["href"]
        for feature in _products(local, accessedFrom="MEP")["features"]
        if feature["id"] == gone["id"]
        for _, link in iter_files(feature)
    ]
    assert local_hrefs and all(Path(urlsplit(h).path).exists() for h in local_hrefs)
    local.remove_product(S1, gone["id"])
    assert gone["id"] not in _os_ids(local) and len(_os_ids(local)) == PRODUCTS - 1
    for method in ("GET", "POST"):
        found = _stac_ids(local, method)
        assert _short(gone["id"]) not in found and len(found) == PRODUCTS - 1
    assert _short(gone["id"]) not in _items(local)
    assert _item(local, _short(gone["id"])).status_code == 404
    assert all(_download(local, href).status_code == 404 for href in _hrefs(gone))
    assert not any(Path(urlsplit(h).path).exists() for h in local_hrefs)


# ---- reprocessing ------------------------------------------------------------------------------


def test_a_reprocessed_file_has_new_bytes_of_the_same_length_wherever_it_is_served(local):
    _warm(local)
    product = _stored(local, 4)
    path, other = _hrefs(product)[:2]
    before, other_before = _download(local, path), _download(local, other).content
    old_asset = next(
        a
        for a in _item(local, _short(product["id"])).json()["assets"].values()
        if urlsplit(a["href"]).path == path
    )
    changed = local.reprocess_product(S1, product["id"])
    assert _first_data(changed) == path  # the default: its first data file, same name
    assert _when(changed["properties"]["updated"]) > _when(product["properties"]["updated"])

    after = _download(local, path)
    length = len(before.content)
    assert len(after.content) == length and after.content != before.content
    assert after.content == content.read(path, 0, length, 1) == local.store.files[path].read()
    assert after.headers["ETag"] != before.headers["ETag"]
    ranged = _download(local, path, Range="bytes=10-99")
    assert ranged.status_code == 206 and ranged.content == after.content[10:100]
    assert _download(local, other).content == other_before  # only the file named changed

    item = _item(local, _short(product["id"])).json()
    asset = next(a for a in item["assets"].values() if urlsplit(a["href"]).path == path)
    assert asset["file:checksum"] == "1220" + hashlib.sha256(after.content).hexdigest()
    assert asset["file:checksum"] != old_asset["file:checksum"]
    assert asset["file:checksum"] == served_checksum(path, length, 1)
    assert item["properties"]["updated"] == changed["properties"]["updated"]
    assert _local_file(asset["alternate"]["local"]["href"]) == after.content

    mep = next(
        f for f in _products(local, accessedFrom="MEP")["features"] if f["id"] == product["id"]
    )
    assert _local_file(mep["properties"]["links"]["data"][0]["href"]) == after.content


def test_each_reprocess_is_a_new_revision(local):
    product = _stored(local, 0)
    path = _first_data(product)
    seen = {_download(local, path).content}
    for _ in range(3):
        local.reprocess_product(S1, product["id"], [_name(path)])
        seen.add(_download(local, path).content)
    assert len(seen) == 4 and local.store.files[path].revision == 3


def test_a_range_with_an_older_revisions_if_range_gets_the_whole_new_file(local):
    path = _first_data(_stored(local, 0))
    old_tag = _download(local, path).headers["ETag"]
    local.reprocess_product(S1, _stored(local, 0)["id"])
    whole = _download(local, path, Range="bytes=0-9", **{"If-Range": old_tag})
    assert whole.status_code == 200 and whole.content == local.store.files[path].read()
    current = whole.headers["ETag"]
    part = _download(local, path, Range="bytes=0-9", **{"If-Range": current})
    assert part.status_code == 206 and part.content == whole.content[:10]


def test_renamed_files_are_served_under_new_names_and_the_old_ones_answer_404(local):
    _warm(local)
    product = _stored(local, 5)
    path = _first_data(product)
    stem, _, extension = _name(path).rpartition(".")
    first = local.reprocess_product(S1, product["id"], [_name(path)], rename=True)
    renamed = _first_data(first)
    assert _name(renamed) == f"{stem}_R2.{extension}"
    assert _download(local, path).status_code == 404
    assert _download(local, renamed).content == content.read(
        renamed, 0, local.store.files[renamed].length
    )
    second = local.reprocess_product(S1, product["id"], [_name(renamed)], rename=True)
    again = _first_data(second)
    assert _name(again) == f"{stem}_R3.{extension}"
    assert _download(local, renamed).status_code == 404
    assert _download(local, again).status_code == 200

    listed = next(f for f in _products(local)["features"] if f["id"] == product["id"])
    assert _name(listed["properties"]["links"]["data"][0]["href"]) == _name(again)
    assets = _item(local, _short(product["id"])).json()["assets"]
    names = {_name(a["href"]) for a in assets.values()}
    assert _name(again) in names and _name(path) not in names and _name(renamed) not in names
    on_s3 = next(
        f for f in _products(local, accessedFrom="S3")["features"] if f["id"] == product["id"]
    )
    assert on_s3["properties"]["links"]["data"][0]["href"].endswith(_name(again))


# ---- changed since t ---------------------------------------------------------------------------


def test_changed_since_t_finds_exactly_the_products_changed_on_both_faces_and_through_the_client(
    local,
):
    _warm(local)
    since = _now()
    added = local.add_product(S1, like=_stored(local, 0)["id"], id="S1A_ADDED_V110")
    content_revised = local.reprocess_product(S1, _stored(local, 6)["id"])
    renamed = local.reprocess_product(S1, _stored(local, 9)["id"], rename=True)
    local.remove_product(S1, _stored(local, 12)["id"])
    until = _now()
    changed = {added["id"], content_revised["id"], renamed["id"]}
    short = {_short(i) for i in changed}

    text = since.isoformat().replace("+00:00", "Z")
    assert set(_os_ids(local, modificationDate=f"[{text}")) == changed
    cql2_text = f"updated >= TIMESTAMP('{text}')"
    assert set(_stac_ids(local, filter=cql2_text, **{"filter-lang": "cql2-text"})) == short
    cql2_json = {"op": ">=", "args": [{"property": "updated"}, {"timestamp": text}]}
    assert set(_stac_ids(local, "POST", filter=cql2_json, **{"filter-lang": "cql2-json"})) == short

    opensearch = terracat.Catalogue(local.config())
    stac = terracat.Catalogue(_stac_config(local))
    assert set(opensearch.search(S1, modificationDate=(since, None))["id"]) == changed
    assert set(stac.search(S1, modificationDate=(since, None))["id"]) == short
    assert len(opensearch.search(S1, modificationDate=(until, None))) == 0
    assert len(stac.search(S1, modificationDate=(until, None))) == 0
    assert len(stac.search(S1)) == len(opensearch.search(S1)) == PRODUCTS


def test_change_times_are_milliseconds_strictly_increasing_and_between_call_and_return(local):
    product = _stored(local, 0)
    stamps = []
    for _ in range(5):
        before = _now()
        stamp = local.reprocess_product(S1, product["id"])["properties"]["updated"]
        after = _now()
        assert MILLISECONDS.match(stamp)
        assert before <= _when(stamp) < after
        stamps.append(_when(stamp))
    assert stamps == sorted(set(stamps))


# ---- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda local: local.add_product("nope", like="x", id="y"), "nope"),
        (lambda local: local.add_product(S1, like="nope", id="y"), "nope"),
        (lambda local: local.reprocess_product("nope", "x"), "nope"),
        (lambda local: local.reprocess_product(S1, "nope"), "nope"),
        (lambda local: local.remove_product("nope", "x"), "nope"),
        (lambda local: local.remove_product(S1, "nope"), "nope"),
        (
            lambda local: local.reprocess_product(S1, _stored(local, 0)["id"], ["nope.tif"]),
            "nope.tif",
        ),
    ],
)
def test_an_unknown_collection_product_or_file_is_a_key_error_naming_it(local, change, named):
    with pytest.raises(KeyError, match=re.escape(named)):
        change(local)
    assert len(_os_ids(local)) == PRODUCTS


def test_changes_leave_the_collections_given_untouched(local):
    given = _demo()[[c.id for c in _demo()].index(S1)].products[:PRODUCTS]
    snapshot = repr(given)
    local.add_product(S1, like=given[0]["id"], id="S1A_ADDED_V110")
    local.reprocess_product(S1, given[1]["id"], rename=True)
    local.reprocess_product(S1, given[2]["id"])
    local.remove_product(S1, given[3]["id"])
    assert repr(given) == snapshot


# ---- under load --------------------------------------------------------------------------------


def test_searches_during_changes_each_answer_one_consistent_state(local):
    """Every page, asked while products come and go, counts exactly the products it lists."""
    _warm(local)
    failures: list[str] = []
    stop = threading.Event()

    def search() -> None:
        while not stop.is_set():
            try:
                for method in ("GET", "POST"):
                    _stac_ids(local, method)
                _os_ids(local)
                _os_ids(local, accessedFrom="MEP")
            except Exception as error:  # an error of any kind is the finding
                failures.append(repr(error))

    threads = [threading.Thread(target=search) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        like = _stored(local, 0)["id"]
        for n in range(15):
            added = local.add_product(S1, like=like, id=f"S1A_ADDED_{n}_V110")
            local.reprocess_product(S1, added["id"], rename=n % 2 == 0)
            local.remove_product(S1, _stored(local, 5)["id"])
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not failures, failures[:3]
    assert len(_os_ids(local)) == len(_stac_ids(local)) == PRODUCTS


# ---- content revisions -------------------------------------------------------------------------


def test_revision_zero_is_the_bytes_of_the_path_alone_and_others_differ():
    path = "/download/some/file.tif"
    assert content.read(path, 5, 900) == content.read(path, 5, 900, 0)
    revised = content.read(path, 0, 900, 1)
    assert revised != content.read(path, 0, 900) and revised != content.read(path, 0, 900, 2)
    assert content.read(path, 100, 900, 1) == revised[100:]


def test_materialise_rewrites_a_file_of_the_right_length_but_another_revision(tmp_path):
    path, length, target = "/download/a/b.tif", 5000, tmp_path / "b.tif"
    content.materialise(path, length, target)
    assert target.read_bytes() == content.read(path, 0, length)
    content.materialise(path, length, target, revision=1)
    assert target.read_bytes() == content.read(path, 0, length, 1)
    written = target.stat().st_mtime_ns
    content.materialise(path, length, target, revision=1)  # current: left alone
    assert target.stat().st_mtime_ns == written
