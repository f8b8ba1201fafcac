"""A nightly mirror: ``terracat.sync`` against the pipeline written by hand (search all, download).

No client in the field keeps a mirror; what a pipeline does without one is search the whole
result every night and download it again, the downloader skipping files already complete on
disk (``terracat.search(...).terracat.download(...)``). Both run side by side against one local
catalogue of ``--products`` products (one data file each) with ``--latency`` seconds per request,
on both protocols, through three nights:

1. the first night: everything is new;
2. an unchanged catalogue: what a night costs when nothing happened;
3. a night after 1% of the products were reprocessed (new bytes, same names) and 1% added:
   the time, and how many files each leaves stale on disk (a skip by size cannot see new
   bytes of the same length; the sync re-fetches every file of a product whose ``updated``
   moved, or on STAC only those whose ``file:checksum`` changed).

The catalogue runs in this process (it must change between nights), so both clients share the
interpreter with it alike.

    python -m benchmarks.sync_speed [--products 2000] [--latency 0.05] [--only opensearch,stac]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import terracat
from benchmarks._common import replicated_collection, table
from terracat.server import FaultPlan, LocalCatalogue, Settings

NDVI = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"


def _catalogue(local: LocalCatalogue, protocol: str) -> terracat.Catalogue:
    config = local.config()
    if protocol == "stac":
        config.catalogue_url, config.protocol = local.url + "stac/", "stac"
    return terracat.Catalogue(config)


def _fetched(downloads) -> int:
    return int(downloads["status"].isin(("downloaded", "resumed")).sum()) if len(downloads) else 0


def _by_hand(catalogue: terracat.Catalogue, root: Path) -> int:
    frame = catalogue.search(NDVI)
    return _fetched(frame.terracat.download(root, catalogue=catalogue, progress=False))


def _sync(catalogue: terracat.Catalogue, root: Path) -> int:
    return _fetched(terracat.sync(NDVI, root, catalogue=catalogue, progress=False).downloads)


def _stale(local: LocalCatalogue, root: Path) -> int:
    """Files on disk whose bytes are not the catalogue's current ones."""
    stale = 0
    for product in local.store.collections[NDVI].products:
        for link in product["properties"]["links"]["data"]:
            name = link["href"].rsplit("/", 1)[-1]
            path = root / product["id"].rsplit(":", 1)[-1] / name
            entry = local.store.files[link["href"]]
            stale += not path.exists() or path.read_bytes() != entry.read()
    return stale


def _night(local: LocalCatalogue, protocol: str, roots: dict[str, Path], night: str) -> list:
    rows = []
    for name, run in (("by hand", _by_hand), ("terracat.sync", _sync)):
        catalogue = _catalogue(local, protocol)
        before = len(local.app.requests)
        began = time.perf_counter()
        fetched = run(catalogue, roots[name])
        took = time.perf_counter() - began
        requests = local.app.requests[before:]
        searches = sum(r.startswith(("/products", "/stac/search")) for r in requests)
        rows.append(
            (
                protocol,
                night,
                name,
                f"{took:.2f}",
                str(searches),
                str(fetched),
                str(_stale(local, roots[name])),
            )
        )
        catalogue.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--only", default="opensearch,stac")
    args = parser.parse_args()
    rows = [("protocol", "night", "client", "seconds", "search requests", "files fetched", "stale")]
    for protocol in args.only.split(","):
        collection = replicated_collection(args.products, NDVI)
        plan = FaultPlan(latency=args.latency, routes={"products", "stac", "download"})
        settings = Settings(max_depth=10**7, max_count=10_000)
        with (
            LocalCatalogue([collection], settings=settings, faults=plan) as local,
            tempfile.TemporaryDirectory() as scratch,
        ):
            roots = {name: Path(scratch) / name for name in ("by hand", "terracat.sync")}
            rows += _night(local, protocol, roots, "1 first")
            rows += _night(local, protocol, roots, "2 unchanged")
            ids = [p["id"] for p in local.store.collections[NDVI].products]
            step = 100
            for number, product in enumerate(ids[::step]):
                local.reprocess_product(NDVI, product)
                local.add_product(NDVI, like=product, id=f"S2B_NIGHTLY{number}_V210")
            rows += _night(local, protocol, roots, "3 after 1% changed")
    print(table(rows))


if __name__ == "__main__":
    main()
