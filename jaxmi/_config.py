"""Library-wide configuration helpers."""

from __future__ import annotations

import os
from pathlib import Path

import jax

__all__ = ["enable_compilation_cache", "enable_default_compilation_cache"]


def enable_compilation_cache(path: str | os.PathLike | None = None) -> Path:
    """Turn on JAX's persistent compilation cache, so a fresh process does not recompile.

    jaxmi's programs compile once per shape signature (0.5–3 s each on a CPU). With the cache on,
    a second process that runs the same signatures loads the compiled executables from disk.

    Args:
        path: cache directory; default ``$JAXMI_CACHE_DIR`` or ``~/.cache/jaxmi/xla``.

    Returns:
        The cache directory.

    Example:
        >>> import jaxmi
        >>> cache = jaxmi.enable_compilation_cache("/tmp/jaxmi-xla-cache")
        >>> cache.name
        'jaxmi-xla-cache'
    """
    if path is None:
        path = os.environ.get("JAXMI_CACHE_DIR") or Path.home() / ".cache" / "jaxmi" / "xla"
    path = Path(path).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    # cache every program, however quick to compile or small
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    return path


def enable_default_compilation_cache() -> Path | None:
    """Turn the persistent cache on at import, unless the user configured or disabled it.

    Skipped when ``jax_compilation_cache_dir`` is already set (the user's own cache wins) or
    when the environment variable ``JAXMI_COMPILATION_CACHE`` is ``0``/``false``/``off``.
    ``JAXMI_CACHE_DIR`` moves the cache (default ``~/.cache/jaxmi/xla``).

    Returns:
        The cache directory, or None when skipped.
    """
    if os.environ.get("JAXMI_COMPILATION_CACHE", "1").strip().lower() in ("0", "false", "off"):
        return None
    if jax.config.jax_compilation_cache_dir:
        return None
    try:
        return enable_compilation_cache()
    except OSError:  # read-only home, etc.: run without the cache
        return None
