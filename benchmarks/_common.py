"""What the benchmarks share: a large synthetic store, and the local catalogue in its own process.

The catalogue runs in a separate process so that the client under test has the interpreter to
itself, as it would against a remote catalogue.
"""

from __future__ import annotations

import configparser
import contextlib
import copy
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from typing import Any

from terracat.server.demo import DEFAULT_SIZE_SCALE, build_demo_collections
from terracat.server.store import CollectionEntry

COLLECTION = "urn:eop:VITO:TERRASCOPE_S2_TOC_V2"


def replicated_collection(
    products: int, collection: str = COLLECTION, size_scale: float = DEFAULT_SIZE_SCALE
) -> CollectionEntry:
    """``products`` real-shaped products: the demo collection's, copied under new ids."""
    source = next(c for c in build_demo_collections(size_scale) if c.id == collection)
    features: list[dict[str, Any]] = []
    copy_number = 0
    while len(features) < products:
        for feature in source.products:
            if len(features) == products:
                break
            clone = copy.deepcopy(feature)
            if copy_number:
                suffix = f"_C{copy_number}"
                clone["id"] += suffix
                clone["properties"]["title"] += suffix
                clone["properties"]["identifier"] += suffix
                for links in clone["properties"]["links"].values():
                    for link in links:
                        link["href"] = link["href"].replace(".tif", f"{suffix}.tif")
            features.append(clone)
        copy_number += 1
    return CollectionEntry(source.feature, features, protected=False)


SERVER = textwrap.dedent(
    """
    import sys
    from benchmarks._common import replicated_collection
    from terracat.server import FaultPlan, LocalCatalogue, Settings
    products, latency, bandwidth = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    collection, size_scale = sys.argv[4], float(sys.argv[5])
    plan = FaultPlan(latency=latency, bandwidth=float(bandwidth) if bandwidth != "none" else None,
                     routes={"products", "download", "collections"})
    settings = Settings(max_depth=10**7, max_count=10_000)
    local = LocalCatalogue(
        [replicated_collection(products, collection, size_scale)], settings=settings, faults=plan
    )
    local.start()
    print(local.url, flush=True)
    sys.stdin.read()
    local.stop()
    """
)


@contextlib.contextmanager
def catalogue_process(
    products: int,
    *,
    latency: float = 0.0,
    bandwidth: float | None = None,
    collection: str = COLLECTION,
    size_scale: float = DEFAULT_SIZE_SCALE,
) -> Iterator[str]:
    """A local catalogue of ``products`` products in a child process; yields its URL."""
    arguments = [str(products), str(latency), str(bandwidth or "none"), collection, str(size_scale)]
    with subprocess.Popen(
        [sys.executable, "-c", SERVER, *arguments],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            yield process.stdout.readline().strip()
        finally:
            process.stdin.close()
            process.wait(timeout=60)


def shifted_copy(feature: dict[str, Any], number: int) -> dict[str, Any]:
    """A copy of a product under a new id, with a footprint of its own.

    terracat parses each distinct footprint once (tiles repeat in real searches); copies of one
    product with one footprint would flatter it, so each copy's is moved by a hair.
    """
    shift = number * 1e-7

    def moved(coordinates: Any) -> Any:
        if isinstance(coordinates[0], int | float):
            return [coordinates[0] + shift, *coordinates[1:]]
        return [moved(part) for part in coordinates]

    geometry = feature["geometry"]
    return {
        **feature,
        "id": f"{feature['id']}_{number}",
        "geometry": {**geometry, "coordinates": moved(geometry["coordinates"])},
    }


def reference_catalogue(url: str) -> Any:
    """The reference client (``terracatalogueclient``) pointed at ``url``."""
    from terracatalogueclient import Catalogue
    from terracatalogueclient.config import CatalogueConfig

    parser = configparser.ConfigParser()
    parser["Catalogue"] = {"URL": url}
    with tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False) as ini:
        parser.write(ini)
    return Catalogue(CatalogueConfig.from_file(ini.name))


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "-|-".join("-" * width for width in widths))
    return "\n".join(lines)
