"""Portable files for :class:`~jaxmi.gmm.MIResult`: ``.npz`` and ``.json``, never pickle.

Both formats carry a format tag (``"jaxmi.MIResult"``) and a version, every field of the
result, and each array's dtype, so a load gives back exactly what was saved (values, shapes,
float32/float64/int/bool dtypes, ``std=None``).

* ``.npz``: one array per field (``np.savez``), the tag in ``__format__``, the version in
  ``__version__`` and the names of the fields that are None in ``__none__``. Loaded with
  ``allow_pickle=False``.
* ``.json``: one key per field (scalars as numbers, arrays as lists, None as ``null``) plus
  ``"dtypes"``. Non-finite floats are written as the strings ``"nan"``, ``"inf"``, ``"-inf"``
  so the file is strict JSON.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from typing import Any

import numpy as np

from jaxmi.gmm._mi import MIResult

__all__ = ["load_result", "save_result"]

FORMAT = "jaxmi.MIResult"
VERSION = 1

# field -> (kind, ndim); kinds: "f" float, "i" integer, "b" bool
_SPEC: dict[str, tuple[str, int]] = {
    "mi": ("f", 0),
    "std": ("f", 0),
    "samples": ("f", 1),
    "point": ("f", 0),
    "point_stderr": ("f", 0),
    "n_components": ("i", 0),
    "cv_scores": ("f", 1),
    "selection_converged": ("b", 0),
    "n_iter": ("i", 1),
    "converged": ("b", 1),
}
assert tuple(_SPEC) == MIResult._fields
_OPTIONAL = frozenset({"std"})  # the fields that may be None
_REPLICATE_FIELDS = ("samples", "n_iter", "converged")  # one entry per bootstrap replicate
_DTYPES = {
    "f": ("float16", "float32", "float64"),
    "i": ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"),
    "b": ("bool",),
}
_KIND_NAME = {"f": "float", "i": "integer", "b": "bool"}
_ARTICLE = {"f": "a", "i": "an", "b": "a"}
_DEFAULT_DTYPE = {"f": "float64", "i": "int64", "b": "bool"}
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_META_NPZ = ("__format__", "__version__", "__none__")


def _suffix(path: str | os.PathLike) -> str:
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in (".npz", ".json"):
        raise ValueError(f"{os.fspath(path)}: unknown extension {ext!r}; expected .npz or .json")
    return ext


def _check_field(name: str, arr: np.ndarray, where: str) -> np.ndarray:
    """Check one field's dtype and rank; ``ValueError`` naming the field otherwise."""
    kind, ndim = _SPEC[name]
    if arr.dtype.name not in _DTYPES[kind]:
        raise ValueError(
            f"{where}: field {name!r} must be {_ARTICLE[kind]} {_KIND_NAME[kind]} array, got dtype "
            f"{arr.dtype}"
        )
    if arr.ndim != ndim:
        want = "a scalar" if ndim == 0 else f"{ndim}-D"
        raise ValueError(f"{where}: field {name!r} must be {want}, got shape {arr.shape}")
    return arr


def _check_fields(fields: dict[str, np.ndarray | None], where: str) -> MIResult:
    """Validate a complete set of fields and assemble the result."""
    missing = [f for f in _SPEC if f not in fields]
    if missing:
        raise ValueError(f"{where}: missing field(s) {', '.join(missing)}")
    unknown = sorted(set(fields) - set(_SPEC))
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}")
    out = {}
    for name in _SPEC:
        value = fields[name]
        if value is None:
            if name not in _OPTIONAL:
                raise ValueError(f"{where}: field {name!r} is None; only std may be None")
            out[name] = None
        else:
            out[name] = _check_field(name, value, where)
    lengths = {f: out[f].shape[0] for f in _REPLICATE_FIELDS}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{f} {n}" for f, n in lengths.items())
        raise ValueError(f"{where}: replicate fields disagree in length ({detail})")
    return MIResult(**out)


def _host(result: Any) -> dict[str, np.ndarray | None]:
    if not isinstance(result, MIResult):
        raise TypeError(f"result: expected an MIResult, got {type(result).__name__}")
    fields = {}
    for name, value in zip(MIResult._fields, result, strict=True):
        fields[name] = None if value is None else np.asarray(value)
    return fields


def save_result(path: str | os.PathLike, result: MIResult) -> None:
    """Write an :class:`MIResult` to a ``.npz`` or ``.json`` file (chosen by the extension).

    Neither format uses pickle; :func:`load_result` reads both back exactly (values, shapes,
    dtypes, and ``std=None`` for runs with fewer than two bootstrap replicates). An existing
    file is overwritten.

    Args:
        path: destination ending in ``.npz`` (compact, binary) or ``.json`` (human-readable).
        result: the result of :func:`~jaxmi.gmm_mi`, :func:`~jaxmi.gmm_cmi` or
            :func:`~jaxmi.gmm_entropy` (JAX or NumPy fields).

    Raises:
        ValueError: unknown extension, or a field of the wrong kind or shape.
        TypeError: ``result`` is not an :class:`MIResult`.

    Example:
        >>> import jax, numpy as np, jaxmi
        >>> z = np.random.default_rng(0).multivariate_normal([0, 0], [[1, .6], [.6, 1]], 800)
        >>> r = jaxmi.gmm_mi(jax.random.key(0), z[:, 0], z[:, 1], n_bootstrap=4,
        ...                  mc_samples=2000)
        >>> jaxmi.gmm.save_result("mi.json", r)             # doctest: +SKIP
        >>> float(jaxmi.gmm.load_result("mi.json").mi) == float(r.mi)  # doctest: +SKIP
        True
    """
    ext = _suffix(path)
    fields = _host(result)
    _check_fields(fields, "result")
    if ext == ".npz":
        arrays = {k: v for k, v in fields.items() if v is not None}
        none = np.array([k for k, v in fields.items() if v is None], dtype=np.str_)
        with open(path, "wb") as fh:  # a file object: np.savez would append .npz to a name
            np.savez(
                fh,
                __format__=np.array(FORMAT),
                __version__=np.array(VERSION),
                __none__=none,
                **arrays,
            )
        return
    doc: dict[str, Any] = {"format": FORMAT, "version": VERSION}
    dtypes = {}
    for name, value in fields.items():
        if value is None:
            doc[name] = None
            continue
        dtypes[name] = value.dtype.name
        doc[name] = _to_json(value)
    doc["dtypes"] = dtypes
    text = json.dumps(doc, indent=2, allow_nan=False)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")


def _to_json(arr: np.ndarray) -> Any:
    if arr.dtype.kind == "f":
        # float32 -> float64 is exact and repr(float64) round-trips, so no digits are lost
        def enc(v):
            return v if math.isfinite(v) else ("nan" if math.isnan(v) else repr(v))

        values = [enc(v) for v in arr.astype(np.float64).ravel().tolist()]
        return values[0] if arr.ndim == 0 else values
    return arr.tolist()


def _from_json(name: str, value: Any, dtype: str, where: str) -> np.ndarray:
    kind, ndim = _SPEC[name]
    if dtype not in _DTYPES[kind]:
        raise ValueError(
            f"{where}: field {name!r} has dtype {dtype!r}; expected one of "
            f"{', '.join(_DTYPES[kind])}"
        )
    items = value if isinstance(value, list) else [value]
    if ndim == 0 and isinstance(value, list):
        raise ValueError(f"{where}: field {name!r} must be a scalar, got a list")
    if ndim == 1 and not isinstance(value, list):
        raise ValueError(f"{where}: field {name!r} must be a list, got {type(value).__name__}")
    decoded = []
    for v in items:
        if kind == "b":
            ok = isinstance(v, bool)
        elif kind == "i":
            ok = isinstance(v, int) and not isinstance(v, bool)
        else:
            if isinstance(v, str) and v in _NONFINITE:
                v = _NONFINITE[v]
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        if not ok:
            raise ValueError(
                f"{where}: field {name!r} must hold {_KIND_NAME[kind]} values, got {v!r}"
            )
        decoded.append(v)
    try:
        arr = np.array(decoded, dtype=dtype)
    except OverflowError as err:
        raise ValueError(f"{where}: field {name!r}: value out of range for {dtype}") from err
    return arr.reshape(()) if ndim == 0 else arr


def _load_json(path: str | os.PathLike, where: str) -> MIResult:
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{where}: not a valid JSON file ({err})") from err
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(doc).__name__}")
    _check_header(doc.pop("format", None), doc.pop("version", None), where)
    dtypes = doc.pop("dtypes", {})
    if not isinstance(dtypes, dict):
        raise ValueError(f"{where}: 'dtypes' must be an object mapping field names to dtypes")
    stray = sorted(set(dtypes) - set(_SPEC))
    if stray:
        raise ValueError(f"{where}: 'dtypes' names unknown field(s) {', '.join(stray)}")
    fields: dict[str, Any] = {}
    for name, value in doc.items():
        if name not in _SPEC or value is None:
            fields[name] = value  # unknown names and None are reported by _check_fields
            continue
        dtype = dtypes.get(name, _DEFAULT_DTYPE[_SPEC[name][0]])
        fields[name] = _from_json(name, value, dtype, where)
    return _check_fields(fields, where)


def _check_header(fmt: Any, version: Any, where: str) -> None:
    if fmt != FORMAT:
        raise ValueError(f"{where}: not a saved MIResult (format tag {fmt!r}, expected {FORMAT!r})")
    if version != VERSION:
        raise ValueError(f"{where}: unsupported format version {version!r} (expected {VERSION})")


def _load_npz(path: str | os.PathLike, where: str) -> MIResult:
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError, zipfile.BadZipFile) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise ValueError(f"{where}: not a valid .npz file ({err})") from err
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{where}: not an .npz archive (holds a single .npy array)")
    with archive:
        arrays = {}
        for name in archive.files:
            try:
                arrays[name] = archive[name]
            except ValueError as err:  # object arrays need pickle
                raise ValueError(f"{where}: entry {name!r} cannot be read without pickle") from err
            except (OSError, zipfile.BadZipFile, EOFError) as err:
                raise ValueError(f"{where}: entry {name!r} is corrupt ({err})") from err
    missing = [m for m in _META_NPZ if m not in arrays]
    if missing:
        raise ValueError(f"{where}: not a saved MIResult (no {', '.join(missing)} entry)")
    fmt, version, none = (arrays.pop(m) for m in _META_NPZ)
    fmt = str(fmt) if fmt.dtype.kind == "U" and fmt.ndim == 0 else None
    version = int(version) if version.dtype.kind in "iu" and version.ndim == 0 else None
    _check_header(fmt, version, where)
    if none.dtype.kind != "U" or none.ndim != 1:
        raise ValueError(f"{where}: __none__ must be a 1-D array of field names")
    fields: dict[str, Any] = dict(arrays)
    for name in none.tolist():
        if name in fields:
            raise ValueError(f"{where}: field {name!r} is both stored and marked None")
        fields[name] = None
    return _check_fields(fields, where)


def load_result(path: str | os.PathLike) -> MIResult:
    """Read an :class:`MIResult` written by :func:`save_result` (``.npz`` or ``.json``).

    Fields come back as NumPy arrays (0-d for scalars) with the saved dtypes, so a float64
    result stays float64 whether or not JAX's x64 mode is on; ``std`` may be None. ``.npz``
    files are opened with ``allow_pickle=False``.

    Args:
        path: a file ending in ``.npz`` or ``.json``.

    Returns:
        The saved :class:`MIResult`.

    Raises:
        ValueError: unknown extension, not a saved result (format tag, version), malformed
            content, or missing, unknown or ill-typed fields; the message names the problem.
        FileNotFoundError: no such file.

    Example:
        >>> import jaxmi
        >>> r = jaxmi.gmm.load_result("mi.json")  # doctest: +SKIP
        >>> print(f"{float(r.mi):.3f} ± {float(r.std):.3f}")  # doctest: +SKIP
        0.251 ± 0.025
    """
    ext = _suffix(path)
    where = os.fspath(path)
    if ext == ".npz":
        return _load_npz(path, where)
    return _load_json(path, where)
