"""terracat against terracat: two source trees (before and after a change), interleaved in one run.

A restructuring must not cost speed; this machine's noise (about 15%) hides a small loss unless
A and B run alternately. Each measurement runs in a fresh process importing terracat from one
tree (``PYTHONPATH``), against the same local catalogue processes (started from this tree):

1. search: N demo TOC products, ``latency`` per page, into a frame (default settings);
2. parsing: the same products' pages already in memory, into the full frame;
3. download: Sentinel-1 products' files, each connection capped at ``bandwidth``.

    python -m benchmarks.compare_trees BEFORE_TREE AFTER_TREE [--rounds 3]

(``git worktree add /tmp/before <commit>`` makes a tree of an earlier commit.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

from benchmarks._common import COLLECTION, catalogue_process, table

S1 = "urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1"

SEARCH = """
import sys, time, terracat
config = terracat.CatalogueConfig.from_url(sys.argv[1])
began = time.perf_counter()
frame = terracat.Catalogue(config).search(sys.argv[2])
print(time.perf_counter() - began, len(frame))
"""

PARSE = """
import sys, time, terracat, requests
try:  # the package's layout before and after the protocol seam
    from terracat.frame import FrameBuilder, decode_page
    make = lambda: FrameBuilder()
except ImportError:
    from terracat.frame import FrameBuilder
    from terracat.protocols.opensearch import OpenSearchDecoder, decode_page
    make = lambda: FrameBuilder(decoder=OpenSearchDecoder())
url, collection, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
bodies = [
    requests.get(url + "products", params={"collection": collection, "startIndex": start,
                 "count": 100}).content
    for start in range(1, total + 1, 100)
]
began = time.perf_counter()
builder = make()
for body in bodies:
    builder.add(decode_page(body).features)
frame = builder.build()
print(time.perf_counter() - began, len(frame))
"""

DOWNLOAD = """
import sys, time, tempfile, terracat
config = terracat.CatalogueConfig.from_url(sys.argv[1])
frame = terracat.Catalogue(config).search(sys.argv[2], limit=int(sys.argv[3]))
with tempfile.TemporaryDirectory() as target:
    began = time.perf_counter()
    report = frame.terracat.download(target, "all", progress=False)
    print(time.perf_counter() - began, int(report["bytes"].sum()))
"""


def _run(tree: Path, script: str, *arguments: str) -> tuple[float, int]:
    environment = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *arguments],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, amount = done.stdout.split()
    return float(seconds), int(amount)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--bandwidth", type=float, default=4e6)
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    times: dict[tuple[str, str], list[float]] = {}
    amounts: dict[tuple[str, str], set[int]] = {}

    def measure(kind: str, script: str, *arguments: str) -> None:
        for _ in range(args.rounds):
            for name, tree in trees.items():  # interleaved: A B A B ...
                seconds, amount = _run(tree, script, *arguments)
                times.setdefault((kind, name), []).append(seconds)
                amounts.setdefault((kind, name), set()).add(amount)

    with catalogue_process(args.products, latency=args.latency) as url:
        measure("search", SEARCH, url, COLLECTION)
    with catalogue_process(args.products) as url:
        measure("parsing", PARSE, url, COLLECTION, str(args.products))
    with catalogue_process(12, bandwidth=args.bandwidth, collection=S1, size_scale=1e-3) as url:
        measure("download", DOWNLOAD, url, S1, "12")

    rows = [("benchmark", "before (median)", "after (median)", "after / before", "runs")]
    for kind in ("search", "parsing", "download"):
        before, after = times[(kind, "before")], times[(kind, "after")]
        assert amounts[(kind, "before")] == amounts[(kind, "after")], f"{kind}: different results"
        rows.append(
            (
                kind,
                f"{statistics.median(before):.2f} s",
                f"{statistics.median(after):.2f} s",
                f"{statistics.median(after) / statistics.median(before):.2f}",
                " ".join(f"{b:.2f}/{a:.2f}" for b, a in zip(before, after, strict=True)),
            )
        )
    print(
        f"{args.products} products at {args.latency * 1000:.0f} ms/page; parsing in memory; "
        f"12 Sentinel-1 products at {args.bandwidth / 1e6:.0f} MB/s per connection; "
        f"{args.rounds} interleaved rounds\n"
    )
    print(table(rows))


if __name__ == "__main__":
    main()
