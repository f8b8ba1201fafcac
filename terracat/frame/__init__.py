"""Product frames: the column contract, building a frame from protocol-neutral rows, files.

:mod:`~terracat.frame.contract` holds the columns and dtype rules, :mod:`~terracat.frame.builder`
the :class:`FrameBuilder` and the :class:`Decoder` interface a protocol implements,
:mod:`~terracat.frame.files` the file-list columns, :mod:`~terracat.frame.footprints` the
geometries, :mod:`~terracat.frame.io` GeoParquet and the other export formats. Nothing here
imports a protocol.
"""

from terracat.frame.builder import (
    BatchRows,
    DecodedRows,
    Decoder,
    Decoding,
    Feature,
    FrameBuilder,
    features_frame,
    gc_paused,
    nesting_depth,
    unusable_product,
)
from terracat.frame.contract import as_naive_utc, empty_frame, file_list_arrow, normalise_frame
from terracat.frame.files import FILE_COLUMNS, FILE_FIELDS, FileLists
from terracat.frame.io import FORMATS, read_frame, write_frame

__all__ = [
    "FILE_COLUMNS",
    "FILE_FIELDS",
    "FORMATS",
    "BatchRows",
    "DecodedRows",
    "Decoder",
    "Decoding",
    "Feature",
    "FileLists",
    "FrameBuilder",
    "as_naive_utc",
    "empty_frame",
    "features_frame",
    "file_list_arrow",
    "gc_paused",
    "nesting_depth",
    "normalise_frame",
    "read_frame",
    "unusable_product",
    "write_frame",
]
