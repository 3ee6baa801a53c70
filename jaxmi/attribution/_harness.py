"""The faithfulness harness: several maps scored under several substrates, with ranks.

Perturbation metrics favour a method whose own perturbation is the metric's substrate (spec
attribution.md §5.7: zero-baseline occlusion wins under the zero substrate, PMI with marginal
in-fills under the mean image). :func:`evaluate_faithfulness` therefore scores every map under
several substrates at once and reports per-substrate values and ranks, marks the cells where a
method's own perturbation is the substrate, and names an overall winner only when one method is
best in every column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxmi._validation import check_int, check_key, refuse_traced
from jaxmi.attribution import metrics as _m

__all__ = ["FaithfulnessReport", "evaluate_faithfulness"]

#: ROAD removal percentages of the harness (ROAD's own default is 1, 3, ..., 99: 5x the cost)
ROAD_PERCENTAGES = tuple(range(10, 100, 10))


class FaithfulnessReport(NamedTuple):
    """Scores of M maps in P columns (metric x substrate), from :func:`evaluate_faithfulness`.

    Attributes:
        methods: (M,) method names, in the order given (``"random"`` last when added).
        columns: (P,) column names, e.g. ``"deletion (zero)"``, ``"insertion (mean)"``,
            ``"ROAD LeRF-MoRF"``.
        substrates: (P,) the substrate of each column (``"road"`` for ROAD's imputation).
        lower_is_better: (P,) bool, True for deletion.
        values: (M, P) mean over images (AUC of the target score for deletion/insertion; mean
            LeRF - MoRF score difference for ROAD).
        per_image: (M, P, B) the same per image.
        ranks: (M, P) int, 1 = best in the column; ties share the better rank.
        own: (M, P) bool, the column's substrate is the method's own perturbation (favoured).
        winners: (P,) the best method of each column (the first in ``methods`` on ties).
        winner: the method ranked first in every column, or None (then no method may be
            called better than the others overall).
    """

    methods: tuple[str, ...]
    columns: tuple[str, ...]
    substrates: tuple[str, ...]
    lower_is_better: np.ndarray
    values: np.ndarray
    per_image: np.ndarray
    ranks: np.ndarray
    own: np.ndarray
    winners: tuple[str, ...]
    winner: str | None

    def table(self, digits: int = 3) -> str:
        """A Markdown table: value (rank) per cell, ``†`` on own-substrate cells, best in bold.

        Example:
            >>> import numpy as np
            >>> r = FaithfulnessReport(("a", "b"), ("deletion (zero)",), ("zero",),
            ...     np.array([True]), np.array([[0.1], [0.3]]), np.zeros((2, 1, 1)),
            ...     np.array([[1], [2]]), np.array([[False], [True]]), ("a",), "a")
            >>> print(r.table().splitlines()[2])
            | a | **0.100** (1) |
        """
        arrows = ["↓" if low else "↑" for low in self.lower_is_better]
        pairs = zip(self.columns, arrows, strict=True)
        head = "| method | " + " | ".join(f"{c} {a}" for c, a in pairs) + " |"
        lines = [head, "|---" * (len(self.columns) + 1) + "|"]
        for i, name in enumerate(self.methods):
            cells = []
            for j in range(len(self.columns)):
                v = f"{self.values[i, j]:.{digits}f}" + ("†" if self.own[i, j] else "")
                if self.ranks[i, j] == 1:
                    v = f"**{v}**"
                cells.append(f"{v} ({self.ranks[i, j]})")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        if self.winner is None:
            lines.append("")
            lines.append("No method is best in every column; † marks a method scored under its own")
            lines.append("perturbation (favoured).")
        return "\n".join(lines)


def _ranks(values: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """1 + the number of methods strictly better, per column."""
    v = np.where(lower[None, :], values, -values)
    return 1 + (v[None, :, :] < v[:, None, :]).sum(axis=1)


def _substrate_specs(substrates: Any) -> list[tuple[str, Any]]:
    if isinstance(substrates, Mapping):
        specs = [(str(k), v) for k, v in substrates.items()]
    elif isinstance(substrates, str) or not isinstance(substrates, Sequence):
        raise ValueError(
            "substrates: expected a sequence of names ('zero', 'mean', 'blur') or a mapping "
            f"name -> substrate, got {substrates!r}"
        )
    else:
        specs = [(str(s), s) for s in substrates]
    for name, s in specs:
        if isinstance(s, str) and s not in ("zero", "mean", "blur"):
            raise ValueError(
                f"substrates: {name!r} is not 'zero', 'mean', 'blur' or an array "
                "(pass a mapping name -> array for a custom substrate)"
            )
    if len({n for n, _ in specs}) != len(specs) or "road" in {n for n, _ in specs}:
        raise ValueError(f"substrates: names must be distinct and not 'road', got {specs!r}")
    return specs


def evaluate_faithfulness(
    key: jax.Array,
    predict_fn: Any,
    images: Any,
    attributions: Mapping[str, Any],
    target: Any = "top1",
    *,
    substrates: Sequence[str] | Mapping[str, Any] = ("zero", "mean", "blur"),
    road: bool = True,
    random_map: bool = True,
    own: Mapping[str, str] | None = None,
    pixels_per_step: int | None = None,
    road_percentages: Sequence[float] = ROAD_PERCENTAGES,
    batch_size: int = 64,
) -> FaithfulnessReport:
    """Score several attribution maps with every perturbation metric under several substrates.

    Columns: deletion and insertion AUC (:func:`~jaxmi.attribution.metrics.deletion`,
    :func:`~jaxmi.attribution.metrics.insertion`) under each of ``substrates``, then ROAD's
    mean LeRF - MoRF score difference (:func:`~jaxmi.attribution.metrics.road`, removal by noisy
    linear imputation; higher is better). A uniform random map is added as a reference row.
    Every method sees the same images, targets and substrates, so the rows are comparable; the
    ranks are per column, because rankings change with the substrate: a method whose own
    perturbation is the substrate (``own``, marked ``†`` in :meth:`FaithfulnessReport.table`)
    is favoured there. ``winner`` names a method only if it is best in every column.

    Args:
        key: typed PRNG key (the random map and ROAD's imputation noise).
        predict_fn: ``(b, H, W, C) -> (b, n_classes)`` scores (probabilities for the RISE
            convention), as in :mod:`jaxmi.attribution.metrics`.
        images: ``(B, H, W, C)`` images in the model's input space.
        attributions: method name -> ``(B, H, W)`` map (at least one).
        target: ``(B,)`` class indices, one int, or ``"top1"`` (the clean arg-max).
        substrates: names among ``"zero"``, ``"mean"`` (each image's mean colour) and
            ``"blur"``, or a mapping column name -> substrate (a name or an array broadcastable
            to the images, e.g. ``{"mean image": train_mean}``). Default: zero, mean and blur.
        road: add the ROAD column.
        random_map: add a ``"random"`` row (uniform maps drawn from ``key``).
        own: method name -> the substrate name that is its own perturbation (e.g.
            ``{"occlusion": "zero"}``), for the ``†`` marks; ``"road"`` is allowed.
        pixels_per_step: deletion/insertion step (default about 100 steps per curve).
        road_percentages: ROAD's removal percentages (default 10, 20, ..., 90).
        batch_size: perturbed images per ``predict_fn`` call.

    Returns:
        A :class:`FaithfulnessReport` (host NumPy arrays).

    Raises:
        ValueError: naming the argument (no maps, a map of the wrong shape, an unknown
            substrate or ``own`` entry, an argument traced by a user's ``jit``/``vmap``), or
            from the metrics themselves.

    Example:
        >>> import jax, jax.numpy as jnp, numpy as np
        >>> from jaxmi.attribution import evaluate_faithfulness
        >>> w = np.zeros((4, 4, 1), np.float32); w[:2, :2] = 1.0  # only the top-left matters
        >>> def f(x):
        ...     s = (x * w).sum((1, 2, 3))
        ...     return jnp.stack([jax.nn.sigmoid(s - 1), 1 - jax.nn.sigmoid(s - 1)], -1)
        >>> x = jnp.ones((3, 4, 4, 1))
        >>> maps = {"true": np.broadcast_to(w[..., 0], (3, 4, 4)),
        ...         "inverted": np.broadcast_to(1 - w[..., 0], (3, 4, 4))}
        >>> r = evaluate_faithfulness(jax.random.key(0), f, x, maps, 0, substrates=["zero"],
        ...                           road=False)
        >>> r.columns, r.winner
        (('deletion (zero)', 'insertion (zero)'), 'true')
    """
    key = check_key(key)
    if not isinstance(attributions, Mapping) or not attributions:
        raise ValueError(
            "attributions: expected a non-empty mapping method name -> (B, H, W) map, got "
            f"{type(attributions).__name__}"
        )
    named = {"key": key, "images": images, "target": target}
    named.update({f"attributions[{m!r}]": a for m, a in attributions.items()})
    for name, value in named.items():  # (the metrics of jaxmi.attribution.metrics run under jit)
        refuse_traced(name, value, "evaluate_faithfulness ranks the methods on the host")
    x = _m._as_images(images)
    maps = {}
    for name, a in attributions.items():
        try:
            maps[str(name)] = np.asarray(_m._as_map(a, x.shape, None))
        except ValueError as err:
            detail = str(err).removeprefix("attributions: ")
            raise ValueError(f"attributions[{name!r}]: {detail}") from err
    k_random, k_road = jax.random.split(key)
    if random_map:
        if "random" in maps:
            raise ValueError("attributions: 'random' is the reference row; rename that method")
        maps["random"] = np.asarray(jax.random.uniform(k_random, x.shape[:3]))
    specs = _substrate_specs(substrates)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    own = dict(own or {})
    column_subs = [n for n, _ in specs for _ in (0, 1)] + (["road"] if road else [])
    for method, sub in own.items():
        if method not in maps:
            raise ValueError(f"own: {method!r} is not one of the methods {tuple(maps)}")
        if sub not in column_subs:
            raise ValueError(f"own: substrate {sub!r} of {method!r} is not one of {column_subs}")

    columns, lower, per_image = [], [], {m: [] for m in maps}
    for sname, sub in specs:
        # the substrate images once per substrate, shared by every method and both curves
        sub = _m.substrate_images(x, sub)
        for kind, fn in (("deletion", _m.deletion), ("insertion", _m.insertion)):
            columns.append(f"{kind} ({sname})")
            lower.append(kind == "deletion")
            for m, a in maps.items():
                r = fn(predict_fn, x, a, target, substrate=sub, pixels_per_step=pixels_per_step,
                       batch_size=batch_size)  # fmt: skip
                per_image[m].append(np.asarray(r.auc))
    if road:
        columns.append("ROAD LeRF-MoRF")
        lower.append(False)
        for m, a in maps.items():  # the same noise for every method (common random numbers)
            r = _m.road(k_road, predict_fn, x, a, target, percentages=road_percentages,
                        batch_size=batch_size)  # fmt: skip
            per_image[m].append(np.asarray(r.area))
    methods = tuple(maps)
    pi = np.stack([np.stack(per_image[m]) for m in methods])  # (M, P, B)
    values = pi.mean(axis=2)
    low = np.asarray(lower, bool)
    ranks = _ranks(values, low)
    own_mask = np.array([[own.get(m) == s for s in column_subs] for m in methods], bool)
    best = np.where(low[None, :], values, -values).argmin(axis=0)
    winners = tuple(methods[i] for i in best)
    overall = [i for i in range(len(methods)) if np.all(ranks[i] == 1)]
    return FaithfulnessReport(
        methods=methods,
        columns=tuple(columns),
        substrates=tuple(column_subs),
        lower_is_better=low,
        values=values,
        per_image=pi,
        ranks=ranks,
        own=own_mask,
        winners=winners,
        winner=methods[overall[0]] if overall else None,
    )
