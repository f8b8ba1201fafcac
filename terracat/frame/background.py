"""The one background thread that parses JSON while the calling thread decodes pages.

Arrow's C++ JSON reader releases the interpreter lock, so a batch's properties and file lists
are read here while the calling thread holds the lock to decode the next pages.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

__all__ = ["submit"]

_EXECUTOR: ThreadPoolExecutor
"""The one thread that runs JSON parsing jobs: the machine's other core, not a pool to tune.

Searches running at once share it; its thread starts with the first job.
"""


def _start_executor() -> None:
    """A new executor: at import, and in a forked child, which has no copy of the parent's
    thread (the parent's executor, copied, would believe it has one and never run a job)."""
    global _EXECUTOR
    _EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="terracat-files")


_start_executor()
os.register_at_fork(after_in_child=_start_executor)


def submit(job: Callable[..., Any], *args: Any) -> Future[Any]:
    """Run ``job`` on the background thread (whichever is this process's)."""
    return _EXECUTOR.submit(job, *args)
