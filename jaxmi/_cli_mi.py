"""``jaxmi mi``: mutual information between columns of a data file.

Kept apart from :mod:`jaxmi.cli` so that the command line's parser stays small; JAX is imported
only when an estimate is actually run.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import sys
import warnings
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from jaxmi.gmm._init import METHODS

__all__ = ["DESCRIPTION", "EPILOG", "add_arguments", "run"]

PROG = "jaxmi mi"

DESCRIPTION = """\
Estimate the mutual information I(X;Y), or with --z the conditional mutual information
I(X;Y|Z), between column groups of a data file with GMM-MI (jaxmi.gmm_mi / jaxmi.gmm_cmi):
a Gaussian mixture fitted to the joint data, K chosen by cross-validation, error bars from
bootstrap refits.

Files (rows are samples):
  .npy  a 2-D numeric array (a 1-D array is one column); columns by index.
  .npz  loaded without pickle. Columns as ARRAY (every column of that array; a 1-D array is
        one column) or ARRAY:COLS (COLS within that array); if the archive holds a single 2-D
        array, plain COLS address its columns.
  .csv  comma-separated numbers; the first row is a header when any of its fields is not a
        number. Columns by index or by header name.

COLS: comma-separated column indices (0-based; negative counts from the end), half-open
ranges START:STOP (0:3 is columns 0, 1, 2; either end may be omitted), or header names (a
name that matches a header field exactly wins over its reading as an index)."""

EPILOG = """\
--categorical: Y is one column of class labels (integers; any strings in a CSV; strings,
bytes or bools in an .npz array) and I(X;Y) is estimated with jaxmi.gmm_mi_categorical (one
mixture per class; K* is reported per class). A jaxmi without that estimator prints 'not
implemented yet' and exits with status 2. --categorical cannot be combined with --z; with
--out it saves a CategoricalMIResult (the labels in `classes`), which jaxmi.gmm.load_result
reads back.

Exit status: 0 on success, 2 for bad arguments, files or columns, 1 when the estimate itself
fails (for example too few samples for the cross-validation folds).

Examples:
  jaxmi mi data.csv --x 0 --y 1
  jaxmi mi data.csv --x height,weight --y age --bits --json
  jaxmi mi arrays.npz --x latents:0:4 --y targets --n-bootstrap 100 --out result.json
  jaxmi mi data.npy --x 0 --y 1 --z 2:4
  jaxmi mi cells.csv --x 0:5 --y type --categorical --out result.npz"""


class InputError(Exception):
    """A problem with the user's file, columns or options: reported as one line, exit 2."""


# --------------------------------------------------------------------------------------------
# data files
# --------------------------------------------------------------------------------------------


@dataclass
class _Source:
    """One addressable matrix of a file: an ``.npy``, an ``.npz`` array, or a CSV's cells."""

    name: str | None  # the npz array name; None for .npy and .csv
    data: np.ndarray  # (N, d): numeric, or str cells for CSV
    header: list[str] | None = None  # CSV column names
    first_line: int = 1  # CSV line number of data row 0 (for messages)


@dataclass
class _Selection:
    """Columns picked by one of --x/--y/--z."""

    option: str
    source: _Source
    columns: list[int]
    labels: list[Any]

    def keys(self) -> set[tuple[str | None, int]]:
        return {(self.source.name, c) for c in self.columns}


class _Table:
    """A data file opened for column selection."""

    def __init__(self, path: str):
        self.path = path
        self._npz_arrays: dict[str, np.ndarray] | None = None
        self._csv_lines: list[int] | None = None
        ext = os.path.splitext(path)[1].lower()
        if ext not in (".npy", ".npz", ".csv"):
            raise InputError(
                f"{path}: unsupported file type {ext or '(none)'!r}; use .npy, .npz or .csv"
            )
        if not os.path.exists(path):
            raise InputError(f"{path}: no such file")
        if os.path.isdir(path):
            raise InputError(f"{path}: is a directory")
        try:
            self.sources = {".npy": self._npy, ".npz": self._npz, ".csv": self._csv}[ext]()
        except OSError as err:
            raise InputError(f"{path}: cannot read ({err.strerror or err})") from err

    # loaders ---------------------------------------------------------------------------

    def _numeric(self, arr: np.ndarray, what: str) -> np.ndarray:
        if arr.dtype.kind not in "iuf":
            raise InputError(f"{what}: expected a numeric array, got dtype {arr.dtype}")
        return self._table(arr, what)

    def _table(self, arr: np.ndarray, what: str) -> np.ndarray:
        """``arr`` as ``(samples, columns)``: a 1-D array is one column."""
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise InputError(
                f"{what}: expected a 2-D array (samples x columns), got shape {arr.shape}"
            )
        if arr.shape[0] == 0 or arr.shape[1] == 0:
            raise InputError(f"{what}: empty array (shape {arr.shape})")
        return arr

    def _npy(self) -> dict[str | None, _Source]:
        try:
            arr = np.load(self.path, allow_pickle=False)
        except ValueError as err:
            if "Object arrays" in str(err):
                raise InputError(f"{self.path}: holds an object array (needs pickle)") from err
            if "pickle" in str(err):
                raise InputError(
                    f"{self.path}: not a valid .npy file (it would need pickle)"
                ) from err
            raise InputError(f"{self.path}: not a valid .npy file ({err})") from err
        except EOFError as err:
            raise InputError(f"{self.path}: empty or truncated .npy file") from err
        except zipfile.BadZipFile as err:
            raise InputError(
                f"{self.path}: not a valid .npy file (a damaged zip archive?)"
            ) from err
        if not isinstance(arr, np.ndarray):
            arr.close()
            raise InputError(f"{self.path}: not a .npy array (an .npz archive?)")
        return {None: _Source(None, self._numeric(arr, self.path))}

    def _npz(self) -> dict[str | None, _Source]:
        try:
            archive = np.load(self.path, allow_pickle=False)
        except (ValueError, EOFError, zipfile.BadZipFile) as err:
            raise InputError(f"{self.path}: not a valid .npz archive") from err
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise InputError(f"{self.path}: not an .npz archive (a single .npy array?)")
        self._npz_arrays = {}
        with archive:
            for name in archive.files:
                try:
                    self._npz_arrays[name] = archive[name]
                except ValueError as err:
                    if "Object arrays" in str(err) or "pickle" in str(err):
                        raise InputError(
                            f"{self.path}: array {name!r} is an object array (needs pickle)"
                        ) from err
                    raise InputError(f"{self.path}: array {name!r} is corrupt ({err})") from err
                except (EOFError, zipfile.BadZipFile) as err:
                    raise InputError(f"{self.path}: array {name!r} is corrupt") from err
        if not self._npz_arrays:
            raise InputError(f"{self.path}: the archive holds no arrays")
        return {}  # arrays become sources lazily: unused arrays may be anything

    def _csv(self) -> dict[str | None, _Source]:
        rows: list[list[str]] = []
        lines: list[int] = []
        try:
            with open(self.path, encoding="utf-8-sig", newline="") as fh:
                reader = csv.reader(fh)
                for row in reader:
                    if not row or all(not c.strip() for c in row):
                        continue  # blank line
                    rows.append([c.strip() for c in row])
                    lines.append(reader.line_num)
        except UnicodeDecodeError as err:
            raise InputError(f"{self.path}: not a UTF-8 text file") from err
        except csv.Error as err:
            raise InputError(f"{self.path}: malformed CSV ({err})") from err
        if not rows:
            raise InputError(f"{self.path}: no data")
        width = len(rows[0])
        for row, line in zip(rows, lines, strict=True):
            if len(row) != width:
                raise InputError(
                    f"{self.path}: line {line} has {len(row)} fields, expected {width} "
                    f"(as on line {lines[0]})"
                )
        header = None
        if any(not _is_number(c) for c in rows[0]):
            header, rows, lines = rows[0], rows[1:], lines[1:]
            if not rows:
                raise InputError(f"{self.path}: a header row but no data")
        self._csv_lines = lines
        cells = np.array(rows, dtype=np.str_)
        return {None: _Source(None, cells, header)}

    # selection ---------------------------------------------------------------------------

    def _npz_source(self, name: str) -> _Source:
        arr = self._npz_arrays[name]
        src = self.sources.get(name)
        if src is None:
            what = f"{self.path}:{name}"
            if arr.dtype.kind in "USb":  # class labels for --categorical; values() refuses them
                src = _Source(name, self._table(arr, what))
            else:
                src = _Source(name, self._numeric(arr, what))
            self.sources[name] = src
        return src

    def select(self, option: str, spec: str) -> _Selection:
        """The columns of ``spec`` (the value of ``option``)."""
        if not spec.strip():
            raise InputError(f"{option}: empty column list")
        if self._npz_arrays is None:
            src = self.sources[None]
            cols, labels = _parse_columns(option, spec, src.data.shape[1], src.header, self.path)
            return _Selection(option, src, cols, labels)
        arrays = self._npz_arrays
        name, _, rest = spec.partition(":")
        if spec in arrays:
            src = self._npz_source(spec)
            cols = list(range(src.data.shape[1]))
            labels = [spec] if arrays[spec].ndim == 1 else [f"{spec}:{c}" for c in cols]
            return _Selection(option, src, cols, labels)
        if name in arrays:
            src = self._npz_source(name)
            cols, _ = _parse_columns(option, rest, src.data.shape[1], None, f"{self.path}:{name}")
            return _Selection(option, src, cols, [f"{name}:{c}" for c in cols])
        two_d = [k for k, a in arrays.items() if a.ndim == 2]
        if len(arrays) == 1 and two_d:
            src = self._npz_source(two_d[0])
            cols, labels = _parse_columns(option, spec, src.data.shape[1], None, self.path)
            return _Selection(option, src, cols, labels)
        raise InputError(
            f"{option}: no array {name!r} in {self.path} (arrays: {', '.join(sorted(arrays))}); "
            "address columns as ARRAY or ARRAY:COLS"
        )

    def values(self, sel: _Selection) -> np.ndarray:
        """The selected columns as a float64 ``(N, k)`` matrix; one error per bad cell."""
        src = sel.source
        if src.name is not None and src.data.dtype.kind not in "iuf":  # npz labels, not values
            raise InputError(
                f"{self.path}:{src.name}: expected a numeric array, got dtype {src.data.dtype}"
            )
        if src.data.dtype.kind != "U":
            out = np.asarray(src.data[:, sel.columns], dtype=np.float64)
        else:
            try:
                out = src.data[:, sel.columns].astype(np.float64)
            except ValueError:
                out = self._parse_cells(sel)
        bad_rows, bad_cols = np.nonzero(~np.isfinite(out))
        if bad_rows.size:
            i, j = int(bad_rows[0]), int(bad_cols[0])
            row = f"line {self._csv_lines[i]}" if src.data.dtype.kind == "U" else f"row {i}"
            raise InputError(
                f"{sel.option}: column {sel.labels[j]!r} has {bad_rows.size} NaN or infinite "
                f"value(s) (first at {row})"
            )
        const = [sel.labels[j] for j in range(out.shape[1]) if np.ptp(out[:, j]) == 0]
        if const:
            raise InputError(f"{sel.option}: constant column(s) {const}: no information to share")
        return out

    def _parse_cells(self, sel: _Selection) -> np.ndarray:
        """Cell-by-cell conversion of CSV columns, reporting the first cell that is no number."""
        rows = sel.source.data[:, sel.columns].tolist()
        out = np.empty((len(rows), len(sel.columns)))
        for i, row in enumerate(rows):
            for j, (cell, label) in enumerate(zip(row, sel.labels, strict=True)):
                try:
                    out[i, j] = float(cell)
                except ValueError:
                    what = repr(cell) if cell else "an empty field"
                    raise InputError(
                        f"{self.path}: line {self._csv_lines[i]}, column {label!r}: "
                        f"{what} is not a number"
                    ) from None
        return out

    def labels(self, sel: _Selection) -> np.ndarray:
        """The selected single column as class labels ``(N,)``.

        Numbers, CSV strings, or an npz array of strings, bytes or bools (taken as they are).
        """
        if len(sel.columns) != 1:
            raise InputError(f"{sel.option}: --categorical needs exactly one label column")
        col = sel.source.data[:, sel.columns[0]]
        label = sel.labels[0]
        if sel.source.name is not None and col.dtype.kind in "USb":
            return col
        if col.dtype.kind == "U":
            cells = col.tolist()
            if "" in cells:
                line = self._csv_lines[cells.index("")]
                raise InputError(f"{self.path}: line {line}, column {label!r}: empty label")
            if not all(_is_number(c) for c in cells):
                return col  # string labels
            col = col.astype(np.float64)
        if col.dtype.kind == "f":
            if not np.all(np.isfinite(col)):
                raise InputError(f"{sel.option}: label column {label!r} has NaN or inf values")
            if np.all(col == np.round(col)):
                col = col.astype(np.int64)
        return col


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


_INT = re.compile(r"[+-]?\d+")
_RANGE = re.compile(r"([+-]?\d*):([+-]?\d*)")


def _parse_columns(
    option: str, spec: str, n_cols: int, header: list[str] | None, where: str
) -> tuple[list[int], list[Any]]:
    """Column indices and labels of a COLS spec (indices, START:STOP ranges, header names)."""
    if not spec.strip():
        raise InputError(f"{option}: empty column list")
    cols: list[int] = []
    for raw in spec.split(","):
        tok = raw.strip()
        if not tok:
            raise InputError(f"{option}: empty item in column list {spec!r}")
        if header is not None and tok in header:
            if header.count(tok) > 1:
                raise InputError(f"{option}: column name {tok!r} appears more than once in {where}")
            cols.append(header.index(tok))
        elif _INT.fullmatch(tok):
            i = int(tok)
            if not -n_cols <= i < n_cols:
                raise InputError(
                    f"{option}: column {i} out of range ({where} has {n_cols} column(s))"
                )
            cols.append(i % n_cols)
        elif m := _RANGE.fullmatch(tok):
            start = int(m[1]) if m[1] else 0
            stop = int(m[2]) if m[2] else n_cols
            start, stop = (v + n_cols if v < 0 else v for v in (start, stop))
            if not (0 <= start <= n_cols and 0 <= stop <= n_cols):
                raise InputError(
                    f"{option}: range {tok} out of range ({where} has {n_cols} column(s))"
                )
            if stop <= start:
                raise InputError(f"{option}: range {tok} selects no columns")
            cols.extend(range(start, stop))
        elif header is not None:
            shown = ", ".join(header[:12]) + (", ..." if len(header) > 12 else "")
            raise InputError(f"{option}: unknown column {tok!r} (columns of {where}: {shown})")
        else:
            raise InputError(
                f"{option}: {tok!r} is not a column index or START:STOP range "
                f"({where} has no header names)"
            )
    seen = set()
    for c in cols:
        if c in seen:
            label = header[c] if header is not None else c
            raise InputError(f"{option}: column {label!r} selected twice")
        seen.add(c)
    labels = [header[c] for c in cols] if header is not None else list(cols)
    return cols, labels


# --------------------------------------------------------------------------------------------
# command
# --------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``jaxmi mi`` on ``parser``."""
    parser.add_argument("file", metavar="FILE", help="data file: .npy, .npz or .csv")
    parser.add_argument("--x", required=True, metavar="COLS", help="columns of X")
    parser.add_argument("--y", required=True, metavar="COLS", help="columns of Y")
    parser.add_argument(
        "--z", metavar="COLS", help="columns of Z: estimate I(X;Y|Z) with jaxmi.gmm_cmi"
    )
    parser.add_argument(
        "--categorical",
        action="store_true",
        help="Y is one column of class labels (jaxmi.gmm_mi_categorical)",
    )
    parser.add_argument("--bits", action="store_true", help="report bits instead of nats")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--out",
        metavar="PATH",
        help="also save the full result (.json or .npz; read it with jaxmi.gmm.load_result)",
    )
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
    parser.add_argument(
        "--n-bootstrap",
        type=int,
        default=50,
        metavar="B",
        help="bootstrap replicates (default 50; below 2 gives no error bar)",
    )
    parser.add_argument(
        "--mc-samples",
        type=int,
        default=None,
        metavar="S",
        help="integrate by plain Monte Carlo with S draws (the reference's rule, S = 100000). "
        "Default: randomised quasi-Monte Carlo up to 6 dimensions (at least as accurate as "
        "1e5 draws), plain MC with 100000 draws above; with --categorical, S and the "
        "default points count per class",
    )
    parser.add_argument(
        "--max-components", type=int, default=50, metavar="K", help="largest K tried (default 50)"
    )
    parser.add_argument(
        "--n-components", type=int, metavar="K", help="fix K and skip the cross-validated choice"
    )
    parser.add_argument(
        "--n-init", type=int, default=3, metavar="R", help="EM starts per fit (default 3)"
    )
    parser.add_argument(
        "--init",
        choices=METHODS,
        metavar="NAME",
        help="EM start of every fit (default random_responsibilities, the reference's); "
        "kmeans (k-means++ seeding and Lloyd iterations) fits clustered data on which the "
        f"default can stop at K*=1. One of: {', '.join(METHODS)}",
    )
    parser.add_argument(
        "--restart-stalled",
        action="store_true",
        help="fit cross-validation fits that stayed at the random-responsibility start again "
        "from k-means++ seeding (restart_stalled=True; for data with clusters or flat marginals, "
        "where the default can stop at K*=1)",
    )
    parser.add_argument(
        "--normal-scores",
        action="store_true",
        help="replace each column by the normal scores of its ranks before fitting "
        "(marginals='normal_scores'; MI is unchanged by such maps; for heavy-tailed or skewed "
        "columns, on which the default can report dependence between independent columns)",
    )


def _error(message: str, status: int = 2) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return status


def _warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


#: library options a warning may name, and this command's flag for each
_OPTION_FLAGS = {"restart_stalled=True": "--restart-stalled", "init='kmeans'": "--init kmeans"}


def _show_warnings(caught: list) -> None:
    """Print recorded RuntimeWarnings as warning lines (each text once); others as Python would.

    An option the text names is followed by this command's flag for it.
    """
    seen = set()
    for w in caught:
        if issubclass(w.category, RuntimeWarning):
            text = str(w.message)
            if text not in seen:
                seen.add(text)
                for option, flag in _OPTION_FLAGS.items():
                    text = text.replace(option, f"{flag} ({option})")
                _warn(text)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def _plusminus() -> str:
    enc = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "±".encode(enc)
    except (UnicodeEncodeError, LookupError):
        return "+/-"
    return "±"


def _finite_or_none(v: float) -> float | None:
    return v if math.isfinite(v) else None


def run(args: argparse.Namespace) -> int:
    """Handler of ``jaxmi mi``: load, select, estimate, report. Returns the exit status."""
    try:
        job = _prepare(args)
    except InputError as err:
        return _error(str(err))
    # the estimators' RuntimeWarnings (a fit that is mostly reg_covar, ...) are about the
    # user's data: print them as this command's warning lines, not as Python source locations
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        try:
            result = _estimate(args, job)
        except InputError as err:
            return _error(str(err))
        except ValueError as err:
            return _error(f"estimate failed: {err}", 1)
        finally:
            _show_warnings(caught)
    _report(args, job, result)
    if args.out is not None:
        from jaxmi.gmm import save_result

        try:
            save_result(args.out, result)
        except OSError as err:
            return _error(f"--out: cannot write {args.out} ({err.strerror or err})", 1)
    return 0


@dataclass
class _Job:
    table: _Table
    sels: dict[str, _Selection]
    data: dict[str, np.ndarray]


# (option, attribute, least value) of the numeric options, checked before any work
_LEAST = (
    ("--n-bootstrap", "n_bootstrap", 0),
    ("--mc-samples", "mc_samples", 2),
    ("--max-components", "max_components", 1),
    ("--n-components", "n_components", 1),
    ("--n-init", "n_init", 1),
)
_SEEDS = (-(2**63), 2**63 - 1)  # what jax.random.key takes (an int64)


def _check_numbers(args: argparse.Namespace) -> None:
    for opt, attr, least in _LEAST:
        value = getattr(args, attr)
        if value is not None and value < least:
            raise InputError(f"{opt}: must be >= {least}, got {value}")
    if not _SEEDS[0] <= args.seed <= _SEEDS[1]:
        raise InputError(f"--seed: must be in [-2**63, 2**63 - 1], got {args.seed}")


def _plain_mc(args: argparse.Namespace) -> bool:
    """Whether the integral is plain Monte Carlo (asked for with ``--mc-samples``)."""
    return args.mc_samples is not None


def _prepare(args: argparse.Namespace) -> _Job:
    _check_numbers(args)
    if args.categorical:
        import jaxmi

        if not hasattr(jaxmi, "gmm_mi_categorical"):
            raise InputError(
                "not implemented yet: --categorical needs the categorical estimator "
                "jaxmi.gmm_mi_categorical, which this version of jaxmi does not have"
            )
        if args.z is not None:
            raise InputError("--z cannot be combined with --categorical")
    if args.out is not None:
        ext = os.path.splitext(args.out)[1].lower()
        if ext not in (".json", ".npz"):
            raise InputError(f"--out: unknown extension {ext or '(none)'!r}; use .json or .npz")
    table = _Table(args.file)
    specs = {"--x": args.x, "--y": args.y}
    if args.z is not None:
        specs["--z"] = args.z
    sels = {opt: table.select(opt, spec) for opt, spec in specs.items()}
    opts = list(sels)
    for i, a in enumerate(opts):
        for b in opts[i + 1 :]:
            both = sels[a].keys() & sels[b].keys()
            if both:
                shown = [
                    lab
                    for c, lab in zip(sels[a].columns, sels[a].labels, strict=True)
                    if (sels[a].source.name, c) in both
                ]
                raise InputError(f"column(s) {shown} in both {a} and {b}")
    n_rows = {opt: s.source.data.shape[0] for opt, s in sels.items()}
    if len(set(n_rows.values())) > 1:
        detail = ", ".join(f"{o} {n}" for o, n in n_rows.items())
        raise InputError(f"the selected arrays differ in length ({detail} rows)")
    data = {}
    for opt, sel in sels.items():
        if opt == "--y" and args.categorical:
            data[opt] = table.labels(sel)
        else:
            data[opt] = table.values(sel)
    return _Job(table, sels, data)


def _estimate(args: argparse.Namespace, job: _Job):
    import jax

    import jaxmi

    options: dict[str, Any] = dict(
        n_bootstrap=args.n_bootstrap,
        max_components=args.max_components,
        n_init=args.n_init,
        base=2 if args.bits else None,
    )
    if args.mc_samples is not None:  # selects plain Monte Carlo with that many draws
        options["mc_samples"] = args.mc_samples
    if args.n_components is not None:
        options["n_components"] = args.n_components
    if args.restart_stalled:
        options["restart_stalled"] = True
    if args.init is not None:
        options["init"] = args.init
    if args.normal_scores:
        options["marginals"] = "normal_scores"
    key = jax.random.key(args.seed)
    x, y = job.data["--x"], job.data["--y"]
    if args.categorical:
        return jaxmi.gmm_mi_categorical(key, x, y, **options)
    if args.z is not None:
        return jaxmi.gmm_cmi(key, x, y, job.data["--z"], **options)
    return jaxmi.gmm_mi(key, x, y, **options)


def _report(args: argparse.Namespace, job: _Job, result: Any) -> None:
    quantity = "I(X;Y|Z)" if args.z is not None else "I(X;Y)"
    unit = "bits" if args.bits else "nats"
    n = int(job.data["--x"].shape[0])
    mi = float(result.mi)
    std = None if result.std is None else float(result.std)
    ks = np.asarray(result.n_components)  # one K* per class for the categorical estimator
    k = int(ks) if ks.ndim == 0 else ks.tolist()
    converged = np.asarray(result.converged)
    sel_conv = np.asarray(result.selection_converged)
    if not sel_conv.all() and args.n_components is None:
        _warn(
            f"the choice of K stopped at its cap without the stopping rule firing (the cap is "
            f"--max-components={args.max_components}, or lower where a cross-validation "
            "training fold holds too few samples for more components); raise it if it was "
            "the limit"
        )
    if converged.size and not converged.all():
        _warn(
            f"{converged.size - int(converged.sum())} of {converged.size} bootstrap fits did "
            "not converge"
        )
    classes = getattr(result, "classes", None)
    if args.json:
        doc: dict[str, Any] = {
            "quantity": quantity,
            "mi": _finite_or_none(mi),
            "std": None if std is None else _finite_or_none(std),
            "unit": unit,
            "point": _finite_or_none(float(result.point)),
            "point_stderr": _finite_or_none(float(result.point_stderr)),
            "n_components": k,
            "n": n,
            "n_bootstrap": int(np.asarray(result.samples).shape[0]),
            "samples": [_finite_or_none(float(v)) for v in np.asarray(result.samples).tolist()],
            "selection_converged": bool(sel_conv.all()),
            "n_fits_converged": int(converged.sum()),
            "n_fits": int(converged.size),
        }
        cv = getattr(result, "cv_scores", None)
        if cv is not None:
            doc["cv_scores"] = [_finite_or_none(float(v)) for v in np.asarray(cv).tolist()]
        if classes is not None:  # byte-string labels as latin-1 text (as save_result's JSON)
            doc["classes"] = [
                c.decode("latin-1") if isinstance(c, bytes) else c
                for c in np.asarray(classes).tolist()
            ]
            doc["prior"] = [float(v) for v in np.asarray(result.prior).tolist()]
        doc.update(
            file=args.file,
            x_columns=job.sels["--x"].labels,
            y_columns=job.sels["--y"].labels,
        )
        if args.z is not None:
            doc["z_columns"] = job.sels["--z"].labels
        doc.update(
            categorical=bool(args.categorical),
            seed=args.seed,
            integral="mc" if _plain_mc(args) else "auto",
            mc_samples=args.mc_samples,
            restart_stalled=bool(args.restart_stalled),
            init=args.init or "random_responsibilities",
            marginals="normal_scores" if args.normal_scores else "data",
        )
        print(json.dumps(doc, allow_nan=False))
        return
    err = f" {_plusminus()} {std:.4f}" if std is not None else ""
    extra = f", C={len(classes)}" if classes is not None else ""
    note = "" if std is not None else "; no error bar: --n-bootstrap < 2"
    print(f"{quantity} = {mi:.4f}{err} {unit} (K*={k}{extra}, N={n}{note})")
