"""Download throughput, terracat against the reference client, in one run.

The local catalogue (its own process) caps each connection's bandwidth, as data servers do;
both clients download the same products' files with their default settings, and the trees
they write are compared file by file (names and bytes).

    python -m benchmarks.download_speed [--products 12] [--bandwidth 4e6] [--size-scale 1e-3]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import tempfile
import time
from pathlib import Path

import terracat
from benchmarks._common import catalogue_process, reference_catalogue, table

COLLECTION = "urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1"


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--products", type=int, default=12)
    parser.add_argument("--bandwidth", type=float, default=4e6, help="bytes/s per connection")
    parser.add_argument("--size-scale", type=float, default=1e-3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="terracat-bench-"))
    rows = [("client", "files", "bytes", "time", "throughput", "speed-up")]
    try:
        with catalogue_process(
            args.products,
            bandwidth=args.bandwidth,
            collection=COLLECTION,
            size_scale=args.size_scale,
        ) as url:
            reference = reference_catalogue(url)
            products = list(reference.get_products(COLLECTION, limit=args.products))
            began = time.perf_counter()
            reference.download_products(products, str(work / "reference"), force=True)
            reference_seconds = time.perf_counter() - began

            ours = terracat.Catalogue(terracat.CatalogueConfig.from_url(url))
            frame = ours.search(COLLECTION, limit=args.products)
            began = time.perf_counter()
            report = frame.terracat.download(work / "terracat", "all", progress=False)
            our_seconds = time.perf_counter() - began

        reference_tree, our_tree = _tree(work / "reference"), _tree(work / "terracat")
        assert reference_tree == our_tree, "the two clients wrote different trees"
        size = int(report["bytes"].sum())
        for name, seconds in (("reference", reference_seconds), ("terracat", our_seconds)):
            rows.append(
                (
                    name,
                    str(len(our_tree)),
                    f"{size / 1e6:.1f} MB",
                    f"{seconds:.2f} s",
                    f"{size / seconds / 1e6:.1f} MB/s",
                    f"{reference_seconds / seconds:.1f}x",
                )
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"{args.products} Sentinel-1 GRD products, all files, each connection capped at "
        f"{args.bandwidth / 1e6:.1f} MB/s; identical trees: yes\n"
    )
    print(table(rows))


if __name__ == "__main__":
    main()
