"""Products added, reprocessed and removed between sync runs give exactly the right downloads.

The local catalogue changes while it serves (``LocalCatalogue.add_product`` and friends). On
OpenSearch, which gives no checksums, every file of a reprocessed product is fetched again; on
STAC, whose items carry ``file:checksum``, only the files whose bytes changed are.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import terracat
from terracat.mirroring import MANIFEST_NAME

from .conftest import NDVI, PRODUCTS, catalogue_of, served, tree

KINDS = "all"


def _ids(local) -> list[str]:
    return [p["id"] for p in local.store.collections[NDVI].products]


def _names(feature: dict) -> dict[str, str]:
    """File name -> href path of every file of a stored feature."""
    links = feature["properties"]["links"]
    return {
        link["href"].rsplit("/", 1)[-1]: link["href"]
        for kind in ("data", "related", "previews", "alternates")
        for link in links.get(kind) or []
    }


def _change(local) -> dict[str, object]:
    """Two products added, one reprocessed in place, one with a renamed file, one removed."""
    ids = _ids(local)
    products = local.store.collections[NDVI].products
    changed_file = products[1]["properties"]["links"]["data"][0]["href"].rsplit("/", 1)[-1]
    before = set(_names(products[2]))
    added = [local.add_product(NDVI, like=ids[0], id=f"S2A_NEW{n}_V210")["id"] for n in (1, 2)]
    local.reprocess_product(NDVI, ids[1])  # its first data file: same name, new bytes
    renamed = local.reprocess_product(NDVI, ids[2], rename=True)
    local.remove_product(NDVI, ids[3])
    return {
        "added": added,
        "in_place": ids[1],
        "changed_file": changed_file,
        "renamed": ids[2],
        "old_names": before - set(_names(renamed)),
        "new_names": set(_names(renamed)) - before,
        "removed": ids[3],
    }


def _local_id(product: str, protocol: str) -> str:
    return product.rsplit(":", 1)[-1] if protocol == "stac" else product


@pytest.mark.parametrize("protocol", ["opensearch", "stac"])
def test_added_reprocessed_and_removed_products_give_exactly_the_right_downloads(
    small, tmp_path, protocol
):
    catalogue = catalogue_of(small, protocol)
    terracat.sync(NDVI, tmp_path, file_types=KINDS, catalogue=catalogue, progress=False)
    first_tree = tree(tmp_path)
    change = _change(small)
    same = lambda p: _local_id(p, protocol)  # noqa: E731 - the face's spelling of an id

    report = terracat.sync(NDVI, tmp_path, file_types=KINDS, catalogue=catalogue, progress=False)

    # a product disappeared, so the count differed and the whole search was listed: the rest
    # were looked at, and found unchanged
    actions = dict(zip(report.products["id"], report.products["action"], strict=True))
    assert {i for i, a in actions.items() if a == "unchanged"} == {same(i) for i in _ids(small)} - {
        same(i) for i in (*change["added"], change["in_place"], change["renamed"])
    }
    assert {i: a for i, a in actions.items() if a != "unchanged"} == {
        **{same(i): "new" for i in change["added"]},
        same(change["in_place"]): "changed",
        same(change["renamed"]): "changed",
        same(change["removed"]): "gone",
    }
    assert report.gone == [same(change["removed"])] and report.complete
    fetched = report.downloads[report.downloads["status"] != "skipped"]
    by_product = fetched.groupby("product")["path"].apply(lambda p: {Path(x).name for x in p})
    files_of = {
        product: set(_names(f))
        for f in small.store.collections[NDVI].products
        for product in [same(f["id"])]
    }
    for added in change["added"]:
        assert by_product[same(added)] == files_of[same(added)]
    if protocol == "opensearch":  # no checksums: a reprocessed product's files all come again
        assert by_product[same(change["in_place"])] == files_of[same(change["in_place"])]
        assert by_product[same(change["renamed"])] == files_of[same(change["renamed"])]
    else:  # checksums show which files kept their bytes
        assert by_product[same(change["in_place"])] == {change["changed_file"]}
        assert by_product[same(change["renamed"])] == change["new_names"]
    assert set(by_product.index) == {
        same(i) for i in (*change["added"], change["in_place"], change["renamed"])
    }

    # every file on disk is the catalogue's current version; the removed product's are kept
    now = tree(tmp_path)
    for row in report.downloads.itertuples():
        assert now[str(Path(row.path).relative_to(tmp_path))] == served(small, row.href)
    for name in change["old_names"]:
        assert not any(path.endswith("/" + name) for path in now), name
    removed = {
        p: b
        for p, b in first_tree.items()
        if p.startswith(change["removed"].rsplit(":", 1)[-1] + "/")
    }
    assert removed and all(now[p] == b for p, b in removed.items())
    manifest = terracat.read_parquet(tmp_path / MANIFEST_NAME)
    status = dict(zip(manifest["id"], manifest["syncStatus"], strict=True))
    assert status.pop(same(change["removed"])) == "gone"
    assert set(status.values()) == {"complete"} and len(status) == PRODUCTS + 1

    # and the next run of the changed catalogue fetches nothing
    third = terracat.sync(NDVI, tmp_path, file_types=KINDS, catalogue=catalogue, progress=False)
    assert len(third.downloads) == 0 and tree(tmp_path) == now
    assert third.gone == []  # reported once, when it disappeared


def test_replaced_keep_moves_the_old_versions_aside(small, tmp_path):
    catalogue = catalogue_of(small, "opensearch")
    terracat.sync(NDVI, tmp_path, file_types=KINDS, catalogue=catalogue, progress=False)
    old = tree(tmp_path)
    change = _change(small)

    terracat.sync(
        NDVI, tmp_path, file_types=KINDS, catalogue=catalogue, progress=False, replaced="keep"
    )

    aside = tree(tmp_path / ".replaced")
    product = change["renamed"].rsplit(":", 1)[-1]
    for name in change["old_names"]:
        kept = [p for p in aside if p.endswith(f"{product}/{name}")]
        assert len(kept) == 1 and aside[kept[0]] == old[f"{product}/{name}"]
    in_place = change["in_place"].rsplit(":", 1)[-1]
    moved = [p for p in aside if p.endswith(f"{in_place}/{change['changed_file']}")]
    assert len(moved) == 1 and aside[moved[0]] == old[f"{in_place}/{change['changed_file']}"]
    current = tree(tmp_path)
    assert (
        current[f"{in_place}/{change['changed_file']}"]
        != old[f"{in_place}/{change['changed_file']}"]
    )


@pytest.mark.parametrize("protocol", ["opensearch", "stac"])
def test_a_product_indexed_after_its_window_is_found_by_the_count(small, tmp_path, protocol):
    catalogue = catalogue_of(small, protocol)
    terracat.sync(NDVI, tmp_path, catalogue=catalogue, progress=False, overlap="1h")
    # made (updated) in 2020, but in the catalogue only now: no modification window shows it
    late = small.add_product(
        NDVI, like=_ids(small)[0], id="S2A_LATE_V210", updated="2020-01-02T00:00:00.000Z"
    )

    report = terracat.sync(NDVI, tmp_path, catalogue=catalogue, progress=False, overlap="1h")

    new = report.products[report.products["action"] == "new"]
    assert list(new["id"]) == [_local_id(late["id"], protocol)]
    assert set(report.downloads["product"]) == {_local_id(late["id"], protocol)}
    assert report.complete and report.gone == []
