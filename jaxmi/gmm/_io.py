"""Portable files for GMM-MI results: ``.npz`` and ``.json``, never pickle.

Three result types are stored, each under its own format tag (and a version):

* :class:`~jaxmi.gmm.MIResult` (``"jaxmi.MIResult"``, version 1) of
  :func:`~jaxmi.gmm_mi`, :func:`~jaxmi.gmm_cmi` and :func:`~jaxmi.gmm_entropy`; that of
  :func:`~jaxmi.gmm_kl`'s separate mode (``"jaxmi.MIResult.two_sample"``) and of
  :func:`~jaxmi.gmm_mi_batch` (``"jaxmi.MIResult.batch"``, every field with a leading axis of
  data sets) under tags of their own;
* :class:`~jaxmi.gmm.CategoricalMIResult` (``"jaxmi.CategoricalMIResult"``, version 1) of
  :func:`~jaxmi.gmm_mi_categorical`, whose ``classes`` may hold bool, integer, float or string
  labels;
* :class:`~jaxmi.gmm.PairwiseMIResult` (``"jaxmi.PairwiseMIResult"``, version 1) of
  :func:`~jaxmi.gmm_mi_pairwise`.

Both formats carry the tag, the version, every field of the result and each array's dtype, so a
load gives back exactly what was saved (type, values, shapes, float32/float64/int/bool/unicode/
bytes dtypes, ``std=None``).

* ``.npz``: one array per field (``np.savez``; string labels as a unicode or bytes array), the
  tag in ``__format__``, the version in ``__version__`` and the names of the fields that are None
  in ``__none__``. Loaded with ``allow_pickle=False``.
* ``.json``: one key per field (scalars as numbers, arrays as (nested) lists, strings as
  strings, byte strings as latin-1 text, None as ``null``) plus ``"dtypes"`` (NumPy dtype names;
  ``"U<n>"`` for strings of at most n characters, ``"S<n>"`` for byte strings of at most n
  bytes) and, for arrays of two or more dimensions, ``"shapes"`` (so that empty arrays keep
  their shape). Non-finite floats are written as the strings ``"nan"``, ``"inf"``,
  ``"-inf"`` so the file is strict JSON. An :class:`MIResult` has no such arrays, so its files
  have no ``"shapes"`` and are the same as before the other types were added.
"""

from __future__ import annotations

import json
import math
import os
import re
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from jaxmi.gmm._mi import CategoricalMIResult, MIResult, PairwiseMIResult

__all__ = ["load_result", "save_result"]

Result = MIResult | CategoricalMIResult | PairwiseMIResult


@dataclass(frozen=True)
class _Format:
    """How one result type is stored.

    Attributes:
        cls: the result's NamedTuple class.
        tag: the format tag written to every file.
        version: the format version written to every file.
        spec: field -> (kinds, ndim) in the order of ``cls._fields``; kinds is a string of
            ``"f"`` float, ``"i"`` integer, ``"b"`` bool, ``"U"`` unicode string, ``"S"`` byte
            string, any of which the field may have.
        optional: the fields that may be None.
        agree: (what, ((field, axis), ...)) groups whose lengths along ``axis`` must agree, or
            whose whole shapes must agree where ``axis`` is None.
    """

    cls: type
    tag: str
    version: int
    spec: dict[str, tuple[str, int]]
    optional: frozenset[str]
    agree: tuple[tuple[str, tuple[tuple[str, int | None], ...]], ...]


# shared by the formats: replicate fields agree in length, and a result with several fits (one
# per class, or per sample of gmm_kl's separate mode) carries its per-fit fields along an axis
_REPLICATES = ("replicate fields", (("samples", 0), ("n_iter", 0), ("converged", 0)))
_PER_FIT_SPEC = {
    "n_components": ("i", 1),
    "selection_converged": ("b", 1),
    "n_iter": ("i", 2),
    "converged": ("b", 2),
}


def _per_fit(what: str, *leading: str) -> tuple:
    """The agreement of the per-fit fields (and ``leading`` ones) along the fits' axis."""
    fields = (*leading, "n_components", "selection_converged")
    return (what, (*((f, 0) for f in fields), ("n_iter", 1), ("converged", 1)))


_MI = _Format(
    cls=MIResult,
    tag="jaxmi.MIResult",
    version=1,
    spec={
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
    },
    optional=frozenset({"std"}),
    agree=(_REPLICATES,),
)

_CATEGORICAL = _Format(
    cls=CategoricalMIResult,
    tag="jaxmi.CategoricalMIResult",
    version=1,
    spec={
        "mi": ("f", 0),
        "std": ("f", 0),
        "samples": ("f", 1),
        "point": ("f", 0),
        "point_stderr": ("f", 0),
        "classes": ("bifUS", 1),
        "prior": ("f", 1),
        **_PER_FIT_SPEC,
    },
    optional=frozenset({"std"}),
    agree=(_REPLICATES, _per_fit("per-class fields", "classes", "prior")),
)

_PAIRWISE_FIELDS = {
    "mi": ("f", 2),
    "std": ("f", 2),
    "point": ("f", 2),
    "n_components": ("i", 2),
    "estimated": ("b", 2),
    "converged": ("b", 2),
}
_PAIRWISE = _Format(
    cls=PairwiseMIResult,
    tag="jaxmi.PairwiseMIResult",
    version=1,
    spec=_PAIRWISE_FIELDS,
    optional=frozenset({"std"}),  # None when n_bootstrap < 2
    agree=(("fields", tuple((f, None) for f in _PAIRWISE_FIELDS)),),
)

# gmm_kl(mode="separate"): one mixture per sample, so the per-fit fields gain an axis of 2
_MI_TWO_SAMPLE = _Format(
    cls=MIResult,
    tag="jaxmi.MIResult.two_sample",
    version=1,
    spec={**_MI.spec, **_PER_FIT_SPEC},  # same order: the keys are _MI's
    optional=frozenset({"std"}),
    agree=(_REPLICATES, _per_fit("per-sample fields")),
)

# gmm_mi_batch: every field gains a leading axis of D data sets (cv_scores padded with -inf)
_MI_BATCH = _Format(
    cls=MIResult,
    tag="jaxmi.MIResult.batch",
    version=1,
    spec={name: (kinds, ndim + 1) for name, (kinds, ndim) in _MI.spec.items()},
    optional=frozenset({"std"}),
    agree=(
        ("replicate fields", (("samples", 1), ("n_iter", 1), ("converged", 1))),
        ("data-set fields", tuple((f, 0) for f in _MI.spec)),
    ),
)

_FORMATS = (_MI, _MI_TWO_SAMPLE, _MI_BATCH, _CATEGORICAL, _PAIRWISE)
_BY_TAG = {f.tag: f for f in _FORMATS}
_NAMES = list(dict.fromkeys(f.cls.__name__ for f in _FORMATS))
_TYPE_NAMES = ", ".join(_NAMES[:-1]) + f" or {_NAMES[-1]}"

# a field's spec must name its class's fields in order; tests/gmm/test_io.py checks this rather
# than an import-time assert, so that a new result field cannot break ``import jaxmi``

_DTYPES = {
    "f": ("float16", "float32", "float64"),
    "i": ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"),
    "b": ("bool",),
}
_KIND_NAME = {"f": "float", "i": "integer", "b": "bool", "U": "string", "S": "bytes"}
_DEFAULT_DTYPE = {"f": "float64", "i": "int64", "b": "bool"}
_UNICODE = re.compile(r"U(\d+)")  # the JSON name of a unicode dtype: at most n characters
_BYTES = re.compile(r"S(\d+)")  # a byte-string dtype: at most n bytes (latin-1 text in JSON)
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_META_NPZ = ("__format__", "__version__", "__none__")


def _suffix(path: str | os.PathLike) -> str:
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in (".npz", ".json"):
        raise ValueError(f"{os.fspath(path)}: unknown extension {ext!r}; expected .npz or .json")
    return ext


def _kinds_text(kinds: str) -> str:
    """``"a float"``, ``"an integer"``, ``"a bool, integer, float or string"``."""
    names = [_KIND_NAME[k] for k in kinds]
    text = names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" or {names[-1]}"
    return ("an " if text[0] in "aeiou" else "a ") + text


def _kind_of(dtype: np.dtype, kinds: str) -> str | None:
    """The kind among ``kinds`` that ``dtype`` belongs to, or None."""
    for k in kinds:
        if (k in "US" and dtype.kind == k) or dtype.name in _DTYPES.get(k, ()):
            return k
    return None


def _check_field(fmt: _Format, name: str, arr: np.ndarray, where: str) -> np.ndarray:
    """Check one field's dtype and rank; ``ValueError`` naming the field otherwise."""
    kinds, ndim = fmt.spec[name]
    if _kind_of(arr.dtype, kinds) is None:
        raise ValueError(
            f"{where}: field {name!r} must be {_kinds_text(kinds)} array, got dtype {arr.dtype}"
        )
    if arr.ndim != ndim:
        want = "a scalar" if ndim == 0 else f"{ndim}-D"
        raise ValueError(f"{where}: field {name!r} must be {want}, got shape {arr.shape}")
    return arr


def _check_fields(fmt: _Format, fields: dict[str, np.ndarray | None], where: str) -> Result:
    """Validate a complete set of fields and assemble the result."""
    missing = [f for f in fmt.spec if f not in fields]
    if missing:
        raise ValueError(f"{where}: missing field(s) {', '.join(missing)}")
    unknown = sorted(set(fields) - set(fmt.spec))
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}")
    out: dict[str, np.ndarray | None] = {}
    for name in fmt.spec:
        value = fields[name]
        if value is None:
            if name not in fmt.optional:
                allowed = f"only {', '.join(sorted(fmt.optional))}" if fmt.optional else "no field"
                raise ValueError(f"{where}: field {name!r} is None; {allowed} may be None")
            out[name] = None
        else:
            out[name] = _check_field(fmt, name, value, where)
    for what, members in fmt.agree:
        sizes = {}
        for field, axis in members:
            arr = out[field]
            if arr is not None:
                label = field if not axis else f"{field} (axis {axis})"
                sizes[label] = arr.shape if axis is None else arr.shape[axis]
        if len(set(sizes.values())) > 1:
            detail = ", ".join(f"{f} {n}" for f, n in sizes.items())
            how = "shape" if members[0][1] is None else "length"
            raise ValueError(f"{where}: {what} disagree in {how} ({detail})")
    return fmt.cls(**out)


def _host(result: Any) -> tuple[_Format, dict[str, np.ndarray | None]]:
    """The format of ``result`` and its fields as NumPy arrays (None kept)."""
    fmt = next((f for f in _FORMATS if isinstance(result, f.cls)), None)
    if fmt is None:
        raise TypeError(f"result: expected an {_TYPE_NAMES}, got {type(result).__name__}")
    if fmt is _MI and np.ndim(result.mi) == 1:
        fmt = _MI_BATCH  # gmm_mi_batch: one result per data set
    elif fmt is _MI and np.ndim(result.n_components) == np.ndim(result.selection_converged) == 1:
        fmt = _MI_TWO_SAMPLE  # gmm_kl(mode="separate"): one fit per sample
    fields: dict[str, np.ndarray | None] = {}
    for name, value in zip(fmt.cls._fields, result, strict=True):
        arr = None if value is None else np.asarray(value)
        if arr is not None and arr.dtype == object:  # e.g. labels from a pandas object column
            kinds = fmt.spec.get(name, ("", 0))[0]
            values = arr.ravel().tolist()
            if "U" in kinds and all(isinstance(v, str) for v in values):
                arr = arr.astype(np.str_)
            elif "S" in kinds and values and all(isinstance(v, bytes) for v in values):
                arr = arr.astype(np.bytes_)
        fields[name] = arr
    return fmt, fields


def save_result(path: str | os.PathLike, result: Result) -> None:
    """Write a GMM-MI result to a ``.npz`` or ``.json`` file (chosen by the extension).

    Saves an :class:`MIResult`, a :class:`CategoricalMIResult` or a :class:`PairwiseMIResult`,
    each under its own format tag, so that :func:`load_result` gives back the same type.
    Neither format uses pickle; :func:`load_result` reads both back exactly (values, shapes,
    dtypes, ``+inf`` on a pairwise diagonal, and ``std=None`` for runs with fewer than two
    bootstrap replicates). String class labels are stored as a unicode array (``.npz``) or a
    list of strings (``.json``); an object array of Python strings is stored, and loads back,
    as a unicode array. Byte-string labels (``dtype S``, e.g. read from HDF5) come back as
    bytes (in ``.json`` as latin-1 text with their ``S<n>`` dtype). An existing file is
    overwritten.

    Args:
        path: destination ending in ``.npz`` (compact, binary) or ``.json`` (human-readable).
        result: the result of :func:`~jaxmi.gmm_mi`, :func:`~jaxmi.gmm_cmi`,
            :func:`~jaxmi.gmm_entropy`, :func:`~jaxmi.gmm_kl` (both modes; the separate mode's
            per-sample fields are stored under a format of their own),
            :func:`~jaxmi.gmm_mi_batch`, :func:`~jaxmi.gmm_mi_categorical` or
            :func:`~jaxmi.gmm_mi_pairwise` (JAX or NumPy fields).

    Raises:
        ValueError: unknown extension, or a field of the wrong kind or shape.
        TypeError: ``result`` is none of the three result types.

    Example:
        >>> import jax, numpy as np, jaxmi
        >>> rng = np.random.default_rng(0)
        >>> labels = rng.choice(["cat", "dog"], 400)
        >>> x = rng.normal(size=(400, 1)) + (labels == "dog")[:, None]
        >>> r = jaxmi.gmm_mi_categorical(jax.random.key(0), x, labels, n_bootstrap=3,
        ...                              mc_samples=2000)
        >>> jaxmi.gmm.save_result("mi.json", r)             # doctest: +SKIP
        >>> back = jaxmi.gmm.load_result("mi.json")          # doctest: +SKIP
        >>> type(back).__name__, back.classes.tolist()       # doctest: +SKIP
        ('CategoricalMIResult', ['cat', 'dog'])
    """
    ext = _suffix(path)
    fmt, fields = _host(result)
    _check_fields(fmt, fields, "result")
    if ext == ".npz":
        arrays = {k: v for k, v in fields.items() if v is not None}
        none = np.array([k for k, v in fields.items() if v is None], dtype=np.str_)
        with open(path, "wb") as fh:  # a file object: np.savez would append .npz to a name
            np.savez(
                fh,
                __format__=np.array(fmt.tag),
                __version__=np.array(fmt.version),
                __none__=none,
                **arrays,
            )
        return
    doc: dict[str, Any] = {"format": fmt.tag, "version": fmt.version}
    dtypes = {}
    shapes = {}
    for name, value in fields.items():
        if value is None:
            doc[name] = None
            continue
        dtypes[name] = {
            "U": f"U{value.dtype.itemsize // 4}",
            "S": f"S{value.dtype.itemsize}",
        }.get(value.dtype.kind, value.dtype.name)
        if value.ndim >= 2:
            shapes[name] = list(value.shape)
        doc[name] = _to_json(value)
    doc["dtypes"] = dtypes
    if shapes:
        doc["shapes"] = shapes
    text = json.dumps(doc, indent=2, allow_nan=False)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")


def _to_json(arr: np.ndarray) -> Any:
    """Numbers, bools, strings or nested lists of them; non-finite floats as strings."""
    if arr.dtype.kind == "S":  # bytes as latin-1 text: one character per byte, lossless
        return np.char.decode(arr, "latin-1").tolist()
    if arr.dtype.kind != "f":
        return arr.tolist()

    # float32 -> float64 is exact and repr(float64) round-trips, so no digits are lost
    def enc(v):
        if isinstance(v, list):
            return [enc(u) for u in v]
        return v if math.isfinite(v) else ("nan" if math.isnan(v) else repr(v))

    return enc(arr.astype(np.float64).tolist())


def _leaves(name: str, value: Any, ndim: int, shape: list[int] | None, where: str) -> list:
    """The scalars of a JSON value nested ``ndim`` deep, checked against ``shape`` if given."""
    if ndim == 0:
        if isinstance(value, list):
            raise ValueError(f"{where}: field {name!r} must be a scalar, got a list")
        return [value]
    level = [value]
    for axis in range(ndim):
        deeper = []
        for v in level:
            if not isinstance(v, list):
                want = "a list" + " of lists" * (ndim - 1)
                raise ValueError(f"{where}: field {name!r} must be {want}, got {type(v).__name__}")
            if shape is not None and len(v) != shape[axis]:
                raise ValueError(
                    f"{where}: field {name!r} does not have its shape {tuple(shape)} (a list of "
                    f"length {len(v)} at depth {axis})"
                )
            deeper.extend(v)
        level = deeper
    return level


def _guess_dtype(kinds: str, leaves: list) -> str:
    """The dtype of a field missing from ``"dtypes"``: its kind's default, or from the values.

    A field of several kinds (``classes``) is strings, bools, integers or floats as its values are.
    """
    if len(kinds) == 1:
        return _DEFAULT_DTYPE[kinds]
    if "U" in kinds and leaves and all(isinstance(v, str) for v in leaves):
        return f"U{max(len(v) for v in leaves)}"
    if "b" in kinds and leaves and all(isinstance(v, bool) for v in leaves):
        return "bool"
    if "i" in kinds and all(isinstance(v, int) and not isinstance(v, bool) for v in leaves):
        return "int64"
    return "float64" if "f" in kinds else _DEFAULT_DTYPE[kinds[0]]


def _from_json(
    fmt: _Format, name: str, value: Any, dtype: str | None, shape: Any, where: str
) -> np.ndarray:
    kinds, ndim = fmt.spec[name]
    if ndim >= 2:
        if shape is None:
            raise ValueError(f"{where}: field {name!r} has no entry in 'shapes'")
        if not (
            isinstance(shape, list)
            and len(shape) == ndim
            and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
        ):
            raise ValueError(
                f"{where}: 'shapes' entry of {name!r} must be {ndim} non-negative integers, "
                f"got {shape!r}"
            )
    leaves = _leaves(name, value, ndim, shape, where)
    if dtype is None:
        dtype = _guess_dtype(kinds, leaves)
    text = None  # "U<n>" or "S<n>": a string dtype and its width
    if isinstance(dtype, str):
        text = _UNICODE.fullmatch(dtype) or _BYTES.fullmatch(dtype)
    kind = dtype[0] if text and dtype[0] in kinds else _kind_of_name(dtype, kinds)
    if kind is None:
        allowed = [d for k in kinds for d in (_DTYPES.get(k) or (f"{k}<n>",))]
        raise ValueError(
            f"{where}: field {name!r} has dtype {dtype!r}; expected one of {', '.join(allowed)}"
        )
    decoded = []
    for v in leaves:
        if kind == "b":
            ok = isinstance(v, bool)
        elif kind == "i":
            ok = isinstance(v, int) and not isinstance(v, bool)
        elif kind == "U":
            ok = isinstance(v, str)
        elif kind == "S":  # latin-1 text, one character per byte
            ok = isinstance(v, str) and all(ord(ch) < 256 for ch in v)
        else:
            if isinstance(v, str) and v in _NONFINITE:
                v = _NONFINITE[v]
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        if not ok:
            raise ValueError(
                f"{where}: field {name!r} must hold {_KIND_NAME[kind]} values, got {v!r}"
            )
        decoded.append(v)
    if kind in "US":
        width = int(text[1])
        too_long = [v for v in decoded if len(v) > width or v.endswith("\0")]
        if too_long:
            raise ValueError(
                f"{where}: field {name!r}: string {too_long[0]!r} does not fit dtype {dtype}"
            )
        dtype = f"{kind}{width}"
        if kind == "S":
            decoded = [v.encode("latin-1") for v in decoded]
    try:
        arr = np.array(decoded, dtype=dtype)
    except OverflowError as err:
        raise ValueError(f"{where}: field {name!r}: value out of range for {dtype}") from err
    return arr.reshape(() if ndim == 0 else shape if ndim >= 2 else (len(decoded),))


def _kind_of_name(dtype: Any, kinds: str) -> str | None:
    """The kind among ``kinds`` of a numeric dtype name from a JSON file, or None."""
    if not isinstance(dtype, str):
        return None
    return next((k for k in kinds if dtype in _DTYPES.get(k, ())), None)


def _load_json(path: str | os.PathLike, where: str) -> Result:
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{where}: not a valid JSON file ({err})") from err
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(doc).__name__}")
    fmt = _check_header(doc.pop("format", None), doc.pop("version", None), where)
    meta = {}
    for key in ("dtypes", "shapes"):
        table = doc.pop(key, {})
        if not isinstance(table, dict):
            raise ValueError(f"{where}: {key!r} must be an object mapping field names to {key}")
        stray = sorted(set(table) - set(fmt.spec))
        if stray:
            raise ValueError(f"{where}: {key!r} names unknown field(s) {', '.join(stray)}")
        meta[key] = table
    flat = sorted(n for n in meta["shapes"] if fmt.spec[n][1] < 2)
    if flat:
        raise ValueError(
            f"{where}: 'shapes' is only for arrays of 2 or more dimensions, not {', '.join(flat)}"
        )
    fields: dict[str, Any] = {}
    for name, value in doc.items():
        if name not in fmt.spec or value is None:
            fields[name] = value  # unknown names and None are reported by _check_fields
            continue
        dtype, shape = meta["dtypes"].get(name), meta["shapes"].get(name)
        fields[name] = _from_json(fmt, name, value, dtype, shape, where)
    return _check_fields(fmt, fields, where)


def _check_header(tag: Any, version: Any, where: str) -> _Format:
    """The format named by a file's tag; ``ValueError`` for an unknown tag or version."""
    fmt = _BY_TAG.get(tag) if isinstance(tag, str) else None
    if fmt is None:
        known = ", ".join(repr(t) for t in _BY_TAG)
        raise ValueError(
            f"{where}: not a saved jaxmi result (format tag {tag!r}, expected one of {known})"
        )
    if version != fmt.version or isinstance(version, bool):
        raise ValueError(
            f"{where}: unsupported format version {version!r} of {fmt.tag} (expected {fmt.version})"
        )
    return fmt


def _load_npz(path: str | os.PathLike, where: str) -> Result:
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
        raise ValueError(f"{where}: not a saved jaxmi result (no {', '.join(missing)} entry)")
    tag, version, none = (arrays.pop(m) for m in _META_NPZ)
    tag = str(tag) if tag.dtype.kind == "U" and tag.ndim == 0 else None
    version = int(version) if version.dtype.kind in "iu" and version.ndim == 0 else None
    fmt = _check_header(tag, version, where)
    if none.dtype.kind != "U" or none.ndim != 1:
        raise ValueError(f"{where}: __none__ must be a 1-D array of field names")
    fields: dict[str, Any] = dict(arrays)
    for name in none.tolist():
        if name in fields:
            raise ValueError(f"{where}: field {name!r} is both stored and marked None")
        fields[name] = None
    return _check_fields(fmt, fields, where)


def load_result(path: str | os.PathLike) -> Result:
    """Read a result written by :func:`save_result` (``.npz`` or ``.json``).

    The file's format tag decides the type: an :class:`MIResult`, a
    :class:`CategoricalMIResult` or a :class:`PairwiseMIResult`. Fields come back as NumPy
    arrays (0-d for scalars) with the saved dtypes, so a float64 result stays float64 whether
    or not JAX's x64 mode is on; ``std`` of the first two may be None; string ``classes`` come
    back as a unicode array, byte-string ones as a bytes array. ``.npz`` files are opened with
    ``allow_pickle=False``.

    Args:
        path: a file ending in ``.npz`` or ``.json``.

    Returns:
        The saved result, of the saved type.

    Raises:
        ValueError: unknown extension, not a saved result (format tag, version), malformed
            content, or missing, unknown or ill-typed fields; the message names the file and
            the problem.
        FileNotFoundError: no such file.

    Example:
        >>> import jaxmi
        >>> r = jaxmi.gmm.load_result("mi.json")  # doctest: +SKIP
        >>> print(f"{float(r.mi):.3f} ± {float(r.std):.3f}")  # doctest: +SKIP
        0.251 ± 0.025
        >>> m = jaxmi.gmm.load_result("pairs.npz")  # a PairwiseMIResult  # doctest: +SKIP
        >>> m.mi.shape, bool(m.estimated[0, 0])  # doctest: +SKIP
        ((3, 3), False)
    """
    ext = _suffix(path)
    where = os.fspath(path)
    if ext == ".npz":
        return _load_npz(path, where)
    return _load_json(path, where)
