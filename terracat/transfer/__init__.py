"""Transfers: the files behind product rows, fetched by URL scheme into a safe layout.

``layout`` turns rows into :class:`FileTask` s with safe paths and partial names; ``base`` is the
one interface every fetcher speaks (:class:`Fetcher`, returning :class:`Fetched`); ``http``,
``s3`` and ``local`` are the fetchers, one per scheme; ``batch`` runs a batch of tasks through a
:class:`Transport` (the batch's fetchers by scheme) and reports one row per file. Nothing here
imports the frame, the protocols or the facade: a task is made from plain ``(id, links)`` rows.
"""

from terracat.transfer.base import Fetched, Fetcher, PartialFile
from terracat.transfer.batch import (
    REPORT_COLUMNS,
    DownloadInterrupted,
    Transport,
    download,
    human_size,
)
from terracat.transfer.layout import (
    PARTIAL_SUFFIX,
    FileTask,
    file_tasks,
    partial_path,
    product_directory,
)

__all__ = [
    "PARTIAL_SUFFIX",
    "REPORT_COLUMNS",
    "DownloadInterrupted",
    "Fetched",
    "Fetcher",
    "FileTask",
    "PartialFile",
    "Transport",
    "download",
    "file_tasks",
    "human_size",
    "partial_path",
    "product_directory",
]
