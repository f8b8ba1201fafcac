"""Every tunable default of terracat, named once.

Configuration flows ``CatalogueConfig`` -> ``Catalogue`` -> transport; these constants are what
that flow starts from when a configuration file says nothing.
"""

from __future__ import annotations

USER_AGENT = "terracat"

SEARCH_TIMEOUT = 60.0
"""Seconds for one whole catalogue page: connect, headers and body (not each read)."""

DOWNLOAD_TIMEOUT = 300.0
"""Seconds to wait for the next bytes of a file transfer."""

PAGE_SIZE = 100
"""Products asked for per page; Terrascope's own default page size."""

SEARCH_WORKERS = 4
"""Pages fetched at once after the first one: fast, and still polite to a public service."""

DOWNLOAD_WORKERS = 8
"""Files transferred at once: data servers cap each connection's bandwidth, not a client's."""

RETRIES = 5
"""Attempts after the first for a 429, a 5xx or a dropped connection."""

BACKOFF_FACTOR = 0.5
"""Seconds of the first backoff; each retry doubles it (capped by RETRY_AFTER_MAX)."""

RETRY_AFTER_MAX = 60.0
"""The longest wait a server's Retry-After is honoured for."""

CHUNK_SIZE = 2 * 1024 * 1024
"""Bytes read per chunk of a download, as the reference client's ``[HTTP] ChunkSize``."""

S3_PART_WORKERS = 4
"""Ranged GETs in flight for one large s3:// file (boto3 splits files above 8 MiB into parts).

Files are already transferred ``DOWNLOAD_WORKERS`` at once; a modest fan-out per file keeps the
total connection count (download workers x part workers) polite.
"""

FILE_NAME_MAX = 255
"""Bytes in one file name when the filesystem cannot say (``os.pathconf``): most filesystems' limit."""

MAX_PAGE_BYTES = 512 * 1024 * 1024
"""The largest decoded catalogue page accepted, as ``[HTTP] MaxPageBytes``.

Generous (a 100-product page is about 1 MB) and still far below a compression bomb: a page is
decoded as it is read, and one that would inflate past this fails rather than fill the memory.
"""

PAGE_READ_SIZE = 1024 * 1024
"""Bytes of a page decoded per read: few reads per page (each one queues for the GIL)."""

MAX_PAGEABLE_RESULTS = 2**31 - 1
"""The largest total a catalogue without a paging depth is believed to page through.

Beyond a 32-bit ``startIndex`` no catalogue serves pages; such a total is a lie, not a result.
"""

STAC_PAGE_SIZE = 1_000
"""Items asked for per page of a STAC search unless ``[HTTP] PageSize`` says otherwise: STAC
servers serve large pages, and their pages come one after another (each ``next`` link follows
the last), so few large pages beat many small ones."""
