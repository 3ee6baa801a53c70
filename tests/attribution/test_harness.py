"""evaluate_faithfulness: every map under several substrates, ranks, own-substrate marks."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmi.attribution import FaithfulnessReport, evaluate_faithfulness, metrics

H = W = 4
R1 = np.zeros((H, W), np.float32)
R1[:2, :2] = 1.0  # top-left block
R2 = np.zeros((H, W), np.float32)
R2[2:, 2:] = 1.0  # bottom-right block


def two_blocks(x):
    """Class 0 grows with the pixels of both blocks (s in [0, 8] for images in [0, 1])."""
    s = (x[..., 0] * (R1 + R2)[None]).sum((1, 2))
    p = jax.nn.sigmoid(s - 4.0)
    return jnp.stack([p, 1 - p], axis=-1)


IMAGES = np.ones((3, H, W, 1), np.float32)


def _maps(*blocks):
    return np.broadcast_to(sum(blocks), (3, H, W)).astype(np.float32)


def test_perfect_beats_random_beats_inverted_and_values_are_the_metrics():
    relevant = R1 + R2
    maps = {"perfect": _maps(relevant), "inverted": _maps(1 - relevant)}
    r = evaluate_faithfulness(jax.random.key(0), two_blocks, IMAGES, maps, 0, road=False)
    assert isinstance(r, FaithfulnessReport)
    assert r.methods == ("perfect", "inverted", "random")
    assert r.columns == tuple(
        f"{k} ({s})" for s in ("zero", "mean", "blur") for k in ("deletion", "insertion")
    )
    assert r.values.shape == (3, 6) and r.per_image.shape == (3, 6, 3)
    np.testing.assert_array_equal(r.lower_is_better, [True, False] * 3)
    # the zero and blur substrates separate all three; the mean colour of an all-ones image is
    # the image itself, so every curve is flat there and all methods tie at rank 1
    for j in (0, 1, 4, 5):
        assert r.ranks[:, j].tolist() == [1, 3, 2], (r.columns[j], r.values[:, j])
    assert np.all(r.ranks[:, 2:4] == 1)
    assert r.winner == "perfect" and r.winners[0] == "perfect"
    # each cell is the metric's own number on the same inputs
    want = metrics.insertion(two_blocks, IMAGES, maps["perfect"], 0, substrate="blur").auc
    np.testing.assert_array_equal(r.per_image[0, 5], np.asarray(want))
    assert r.values[0, 0] == pytest.approx(float(np.mean(r.per_image[0, 0])))


def test_a_ranking_that_flips_with_the_substrate_has_no_winner():
    # substrate "keep R2" leaves R2's pixels unchanged: only the R1-first map moves the score;
    # "keep R1" is the mirror image. Each map wins under one substrate and loses under the other.
    keep_r2 = IMAGES * R2[None, :, :, None]
    keep_r1 = IMAGES * R1[None, :, :, None]
    maps = {"R1 first": _maps(R1), "R2 first": _maps(R2)}
    r = evaluate_faithfulness(
        jax.random.key(1),
        two_blocks,
        IMAGES,
        maps,
        0,
        substrates={"keep R2": keep_r2, "keep R1": keep_r1},
        road=False,
        random_map=False,
        own={"R1 first": "keep R2"},
    )
    assert r.winners == ("R1 first", "R1 first", "R2 first", "R2 first")
    assert r.winner is None
    np.testing.assert_array_equal(r.own, [[True, True, False, False], [False] * 4])
    table = r.table()
    assert "No method is best in every column" in table
    assert "†" in table.splitlines()[2] and "**" in table


def test_road_column_orders_perfect_above_inverted():
    relevant = R1 + R2
    maps = {"perfect": _maps(relevant), "inverted": _maps(1 - relevant)}
    r = evaluate_faithfulness(
        jax.random.key(2), two_blocks, IMAGES, maps, 0, substrates=["zero"], random_map=False
    )
    assert r.columns[-1] == "ROAD LeRF-MoRF" and r.substrates[-1] == "road"
    assert not r.lower_is_better[-1]
    assert r.values[0, -1] > r.values[1, -1]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(attributions={}), "attributions"),
        (dict(attributions={"a": np.ones((3, H, W + 1))}), r"attributions\['a'\]"),
        (dict(attributions={"random": np.ones((3, H, W))}), "random"),
        (dict(substrates=["zero", "grey"]), "substrates"),
        (dict(substrates="zero"), "substrates"),
        (dict(own={"nobody": "zero"}), "own"),
        (dict(own={"a": "mean"}, substrates=["zero"]), "own"),
        (dict(key=0), "key"),
    ],
)
def test_bad_arguments_raise_naming_them(kwargs, match):
    call = dict(
        key=jax.random.key(0),
        predict_fn=two_blocks,
        images=IMAGES,
        attributions={"a": np.ones((3, H, W), np.float32)},
        target=0,
        road=False,
    )
    call.update(kwargs)
    with pytest.raises(ValueError, match=match):
        evaluate_faithfulness(**call)


@pytest.mark.parametrize("traced", ["key", "images", "attributions['a']"])
def test_a_traced_argument_is_refused_by_name(traced):
    """The report is built on the host: under a user's jit the traced argument is named."""
    maps = {"a": np.ones((3, H, W), np.float32)}
    key0 = jax.random.key(0)  # made outside: jax.random.key inside the jit is traced too

    def call(v):
        key = v if traced == "key" else key0
        images = v if traced == "images" else IMAGES
        attributions = {"a": v} if traced.startswith("attr") else maps
        return evaluate_faithfulness(
            key, two_blocks, images, attributions, 0, substrates=["zero"], road=False
        ).values

    value = {"key": key0, "images": IMAGES}.get(traced, maps["a"])
    match = rf"^{re.escape(traced)}: evaluate_faithfulness .* cannot run"
    with pytest.raises(ValueError, match=match):
        jax.jit(call)(value)
