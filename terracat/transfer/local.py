"""The file:// fetcher: Terrascope's ``accessedFrom="MEP"`` paths, copied or linked.

A copy always starts over (a local read is cheap and cannot be resumed into a file it might
not match); with ``link=True`` the target becomes a symbolic link to the source, made under its
own partial name and renamed into place, and such a link then counts as the complete file.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from terracat.config import CatalogueConfig
from terracat.exceptions import ProductDownloadException
from terracat.transfer.base import Fetched, Fetcher, PartialFile, Progress
from terracat.transfer.layout import PARTIAL_SUFFIX, FileTask, partial_path

__all__ = ["LINK_SUFFIX", "LocalFetcher"]

LINK_SUFFIX = ".link" + PARTIAL_SUFFIX  # where a link=True symlink is made before its rename


class LocalFetcher(Fetcher):
    """Copies (or, with ``link``, links) ``file://`` hrefs; one per download batch.

    Parameters
    ----------
    config :
        the chunk size of a copy
    link :
        make targets links to the sources instead of copies
    """

    def __init__(self, config: CatalogueConfig, *, link: bool = False) -> None:
        self.config = config
        self.link = link

    def fetch(self, task: FileTask, partial: PartialFile, progress: Progress) -> Fetched:
        """Copy the href into ``partial``; with ``link``, link the target instead."""
        if self.link:
            self._link_file(task)
            return Fetched(0, linked=True)
        source = _source(task)
        partial.restart()
        with open(source, "rb") as copied:
            while chunk := copied.read(self.config.http_download_chunk_size):
                partial.append(chunk)
                progress(len(chunk))
        return Fetched(partial.size())

    def link_source(self, task: FileTask) -> Path | None:
        return _source(task) if self.link else None

    def _link_file(self, task: FileTask) -> None:
        """Make ``task.target`` a symbolic link to the ``file://`` href (``link=True``)."""
        source = _source(task)
        made = partial_path(task.target, LINK_SUFFIX)
        made.unlink(missing_ok=True)
        os.symlink(source, made)
        os.replace(made, task.target)


def _source(task: FileTask) -> Path:
    source = Path(url2pathname(urlsplit(task.href).path))
    if not source.is_file():
        raise ProductDownloadException(f"{task.href}: no such file on this machine")
    return source
