"""A minimal text progress bar on stderr (no dependency)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """A one-line progress bar: ``label [#####.....] 5/10 12.3 s``.

    Args:
        total: number of steps (None: unknown, shows a counter only).
        label: text before the bar.
        enabled: False makes every call a no-op.
        stream: where to write (default ``sys.stderr``).

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> with Progress(3, "fits", stream=out) as bar:
        ...     for _ in range(3):
        ...         bar.update()
        >>> "3/3" in out.getvalue()
        True
    """

    def __init__(
        self,
        total: int | None,
        label: str = "",
        *,
        enabled: bool = True,
        stream: TextIO | None = None,
        width: int = 24,
    ):
        self.total, self.label, self.enabled = total, label, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.width, self.done, self.note = width, 0, ""
        self.start = time.perf_counter()

    def update(self, n: int = 1, note: str = "") -> None:
        """Advance by ``n`` steps and redraw; ``note`` is shown after the counter."""
        if not self.enabled:
            return
        self.done += n
        self.note = note
        elapsed = time.perf_counter() - self.start
        if self.total:
            filled = int(self.width * min(self.done, self.total) / self.total)
            bar = "#" * filled + "." * (self.width - filled)
            text = f"\r{self.label} [{bar}] {self.done}/{self.total} {elapsed:.1f} s {note}"
        else:
            text = f"\r{self.label} {self.done} {elapsed:.1f} s {note}"
        self.stream.write(text.ljust(80))
        self.stream.flush()

    def close(self) -> None:
        """End the line."""
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
