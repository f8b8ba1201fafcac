"""A sync killed with SIGKILL at a random instant, then run again, ends exactly as a run never killed.

The client runs in a subprocess against this process's local catalogue, whose downloads are
slowed so that a run lasts a few seconds; it is killed at a seeded random instant of that run
(while it searches, fetches, or writes its manifest), then the same sync runs to the end. The
mirror's files and its manifest must then equal those of a run that was never interrupted.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

import terracat
from terracat.server import LocalCatalogue
from terracat.transfer import PARTIAL_SUFFIX

from .conftest import NDVI, catalogue_of, manifest_table, small_collection, tree

SEEDS = [int(s) for s in os.environ.get("TERRACAT_KILL_SEEDS", "1,2,3").split(",")]
BANDWIDTH = 5_000.0  # bytes/s per connection: the 48 files (143 kB) take about 4 s on 8 workers
CLIENT = textwrap.dedent(
    """
    import sys
    import terracat

    url, target = sys.argv[1], sys.argv[2]
    catalogue = terracat.Catalogue(terracat.CatalogueConfig.from_url(url))
    terracat.sync(sys.argv[3], target, file_types="all", catalogue=catalogue, progress=False)
    """
)


def _killed_run(local: LocalCatalogue, target: Path, after: float) -> None:
    """Start the sync in a subprocess and SIGKILL it ``after`` seconds into its run."""
    process = subprocess.Popen(
        [sys.executable, "-c", CLIENT, local.url, str(target), NDVI],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not target.exists():  # the run makes its directory first, once terracat is imported
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the client never began: {process.stderr.read().decode()[-2000:]}")
        time.sleep(0.01)
    time.sleep(after)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    process.stderr.close()


def _sync(local: LocalCatalogue, target: Path) -> terracat.SyncReport:
    return terracat.sync(
        NDVI, target, file_types="all", catalogue=catalogue_of(local, "opensearch"), progress=False
    )


@pytest.fixture(scope="module")
def slow_small() -> LocalCatalogue:
    with LocalCatalogue([small_collection()]) as local:
        yield local


@pytest.mark.parametrize("seed", SEEDS)
def test_a_first_run_killed_anywhere_and_run_again_ends_as_an_uninterrupted_one(
    slow_small, tmp_path, seed
):
    local = slow_small
    local.faults.set(bandwidth=BANDWIDTH, routes={"download"})
    began = time.monotonic()
    whole = _sync(local, tmp_path / "whole")
    took = time.monotonic() - began
    assert whole.complete

    after = random.Random(seed).uniform(0.0, took)
    _killed_run(local, tmp_path / "killed", after)
    local.faults.clear()
    left = tree(tmp_path / "killed")
    complete = {p for p in left if not p.endswith(PARTIAL_SUFFIX)}
    again = _sync(local, tmp_path / "killed")

    assert again.complete
    assert tree(tmp_path / "killed") == tree(tmp_path / "whole")
    pd.testing.assert_frame_equal(
        manifest_table(tmp_path / "killed"), manifest_table(tmp_path / "whole")
    )
    # what the killed run completed is not fetched again, what it began is resumed
    root = tmp_path / "killed"
    status = {
        str(Path(row.path).relative_to(root)): row.status for row in again.downloads.itertuples()
    }
    assert {p for p, s in status.items() if s == "skipped"} == complete & set(status)
    begun = {p.removesuffix(PARTIAL_SUFFIX) for p in left if p.endswith(PARTIAL_SUFFIX)}
    assert {p for p, s in status.items() if s == "resumed"} <= begun


def _reprocess_some(local: LocalCatalogue, seed: int) -> None:
    """New products, files with new bytes under their old names, renamed files, a removal."""
    ids = [p["id"] for p in local.store.collections[NDVI].products]
    chosen = random.Random(seed).sample(ids, 6)
    local.add_product(NDVI, like=chosen[0], id=f"S2A_ADDED{seed}_V210")
    names = [link["href"].rsplit("/", 1)[-1] for link in _links(local, chosen[1])]
    local.reprocess_product(NDVI, chosen[1], names)  # every file of it: same names, new bytes
    local.reprocess_product(NDVI, chosen[2])
    local.reprocess_product(NDVI, chosen[3], rename=True)
    local.reprocess_product(NDVI, chosen[4])
    local.remove_product(NDVI, chosen[5])


def _links(local: LocalCatalogue, product: str) -> list[dict]:
    feature = next(p for p in local.store.collections[NDVI].products if p["id"] == product)
    links = feature["properties"]["links"]
    return [
        link
        for kind in ("data", "related", "previews", "alternates")
        for link in links.get(kind) or []
    ]


@pytest.mark.parametrize("seed", SEEDS)
def test_a_run_over_reprocessed_products_killed_anywhere_ends_as_an_uninterrupted_one(
    tmp_path, seed
):
    # a catalogue of its own: the products change under it
    with LocalCatalogue([small_collection()]) as local:
        for mirror in ("whole", "killed"):
            assert _sync(local, tmp_path / mirror).complete
        _reprocess_some(local, seed)
        local.faults.set(bandwidth=BANDWIDTH, routes={"download"})
        began = time.monotonic()
        whole = _sync(local, tmp_path / "whole")
        took = time.monotonic() - began
        assert whole.complete and whole.gone

        _killed_run(local, tmp_path / "killed", random.Random(seed).uniform(0.0, took))
        local.faults.clear()
        again = _sync(local, tmp_path / "killed")

    assert again.complete
    # files of the old versions never survive as complete files of the new ones
    assert tree(tmp_path / "killed") == tree(tmp_path / "whole")
    pd.testing.assert_frame_equal(
        manifest_table(tmp_path / "killed"), manifest_table(tmp_path / "whole")
    )
