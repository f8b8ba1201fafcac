"""The demo store: three Terrascope collections over Belgium, generated deterministically.

The tests, the benchmarks and the offline demo all need a catalogue that behaves like the real
one without the network. Recorded answers would be small and frozen; this package instead builds
a few thousand products per collection whose every feature has the shape of a real Terrascope
answer (``fixtures/real/``), and whose content follows the real acquisition geometry, so that
filters, paging and downloads meet the same distributions a user meets:

- Sentinel-2 L2A TOC reflectance and NDVI on the real MGRS tiles over Belgium. Each relative
  orbit (R008, R051, R094) is flown by Sentinel-2A and 2B, each every 10 days, 5 days apart, at
  about 10:40, 10:50 and 11:00 UTC; the tiles on a swath edge are only partly covered, which
  shows in their footprints and ``missingDataPercentage``. Cloud cover is bimodal and cloudier
  in winter, as in Belgium.
- Sentinel-1 GRD sigma0 frames of 25 s (about 250 x 170 km) on relative orbits 37 and 110
  (descending, about 05:50 and 05:59 UTC) and 88 and 161 (ascending, about 17:24 and 17:32 UTC),
  flown by Sentinel-1A every 12 days and by Sentinel-1B, 6 days apart, until its failure on
  2021-12-23.

Absolute orbit numbers, overpass times and footprints are anchored on real Terrascope products
(cited where the constants are). Randomness (cloud cover, file sizes, publication delays) comes
from ``random.Random`` generators with fixed seeds, one per collection, so the same arguments
give the same store on any machine. ``size_scale`` shrinks the realistic file sizes (gigabytes
per product) to what a test can afford to download; the server serves exactly ``length`` bytes.

Building the store takes a fraction of a second (with the cyclic garbage collector paused, as
nothing it builds is garbage) and is otherwise free of side effects: callers that need it more
than once may cache it, but should copy before changing it.

One module per mission (:mod:`.sentinel2`, :mod:`.sentinel1`), the collection metadata
(:mod:`.collections`) and the feature and file shapes they share (:mod:`.features`); this module
puts them together.
"""

from __future__ import annotations

import gc
import math
import random

from terracat.exceptions import ConfigurationException
from terracat.server.demo.collections import _collection
from terracat.server.demo.features import _SEED_NDVI, _SEED_TOC, _sorted
from terracat.server.demo.sentinel1 import SIGMA0_COLLECTION, _s1_products
from terracat.server.demo.sentinel2 import (
    NDVI_COLLECTION,
    TOC_COLLECTION,
    _ndvi_product,
    _s2_acquisitions,
    _toc_product,
)
from terracat.server.store import CollectionEntry

__all__ = [
    "DEFAULT_SIZE_SCALE",
    "NDVI_COLLECTION",
    "SIGMA0_COLLECTION",
    "TOC_COLLECTION",
    "build_demo_collections",
]

DEFAULT_SIZE_SCALE = 1e-4
"""Factor from realistic file sizes to served ones: a 120 MB band becomes 12 kB."""


def build_demo_collections(size_scale: float = DEFAULT_SIZE_SCALE) -> list[CollectionEntry]:
    """The demo store: Sentinel-2 TOC (protected) and NDVI, and Sentinel-1 sigma0 over Belgium.

    Parameters
    ----------
    size_scale :
        factor applied to the realistic file sizes; each file's ``length`` is
        ``max(1, round(size * size_scale))`` bytes

    Returns
    -------
    list of CollectionEntry
        TOC, NDVI and sigma0, each with its products sorted by (beginningDateTime, id); the
        same for the same ``size_scale``, on any machine

    Examples
    --------
    >>> toc, ndvi, sigma0 = build_demo_collections()
    >>> toc.protected, len(toc.products) == len(ndvi.products)
    (True, True)
    """
    if not (isinstance(size_scale, int | float) and 0 < size_scale < math.inf):
        raise ConfigurationException(
            f"size_scale must be a positive number, not {size_scale!r}: it multiplies the real "
            f"file sizes ({DEFAULT_SIZE_SCALE:g} serves a 120 MB band as 12 kB)"
        )
    # A hundred thousand small dicts that all stay alive: the cyclic garbage collector would
    # walk them again and again while they are built (half the time), and find nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        acquisitions = _s2_acquisitions()
        rng = random.Random(_SEED_TOC)
        toc = _sorted(_toc_product(a, rng, size_scale) for a in acquisitions)
        rng = random.Random(_SEED_NDVI)
        ndvi = _sorted(_ndvi_product(a, rng, size_scale) for a in acquisitions)
        sigma0 = _sorted(_s1_products(size_scale))
    finally:
        if collecting:
            gc.enable()
    return [
        CollectionEntry(_collection(TOC_COLLECTION, toc), toc, protected=True),
        CollectionEntry(_collection(NDVI_COLLECTION, ndvi), ndvi, protected=False),
        CollectionEntry(_collection(SIGMA0_COLLECTION, sigma0), sigma0, protected=False),
    ]
