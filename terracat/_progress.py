"""Progress bars: tqdm's notebook widget where it can be drawn, its text bar everywhere else.

``tqdm.auto`` picks the widget whenever it runs inside a Jupyter kernel, and when ipywidgets is
not installed it warns (``TqdmWarning: IProgress not found``) at import time, that is on
``import terracat``, and fails when a bar is drawn. Here the widget is chosen only when the
kernel can draw it, and nothing is imported from tqdm's notebook module otherwise.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

__all__ = ["progress_bar", "widgets_can_draw"]


def widgets_can_draw() -> bool:
    """Whether this process is a Jupyter kernel (as tqdm tells one) with ipywidgets installed."""
    if "ipykernel.zmqshell" not in sys.modules:
        return False
    return importlib.util.find_spec("ipywidgets") is not None


def progress_bar(**options: Any) -> Any:
    """A tqdm bar with ``options``: the notebook widget when it can be drawn, else text."""
    if widgets_can_draw():
        from tqdm.notebook import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm(**options)
