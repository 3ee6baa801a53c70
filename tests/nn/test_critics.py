"""Critics: one orientation for all (scores[i, j] = f(x_i, y_j)), NNX tree mode, init, checks."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from scipy import stats

from jaxmi import bounds, nn

DX, DY = 3, 2


_MAKERS = {
    "concat": lambda dx, dy, r: nn.ConcatCritic(dx, dy, (16, 8), rngs=r()),
    "concat_linear": lambda dx, dy, r: nn.ConcatCritic(dx, dy, (), rngs=r()),
    "separable": lambda dx, dy, r: nn.SeparableCritic(dx, dy, (16,), embed_dim=4, rngs=r()),
    "separable_marginal": lambda dx, dy, r: nn.SeparableCritic(
        dx, dy, (16,), embed_dim=4, marginal_terms=True, activation="tanh", rngs=r()
    ),
    "bilinear": lambda dx, dy, r: nn.BilinearCritic(dx, dy, rngs=r()),
    "bilinear_features": lambda dx, dy, r: nn.BilinearCritic(dx, dy, (8,), embed_dim=5, rngs=r()),
    "with_baseline": lambda dx, dy, r: nn.BaselineCritic(
        nn.ConcatCritic(dx, dy, (8,), rngs=r()), rngs=r()
    ),
}
CRITICS = list(_MAKERS)


def _critic(name, dx=DX, dy=DY, seed=0):
    """One critic of each kind (built on demand: building all of them at collection time
    compiled every initialiser in every xdist worker)."""
    return _MAKERS[name](dx, dy, lambda: nnx.Rngs(seed))


def _data(kx, ky, dx=DX, dy=DY, seed=1):
    kx_, ky_ = jax.random.split(jax.random.key(seed))
    return jax.random.normal(kx_, (kx, dx)), jax.random.normal(ky_, (ky, dy))


def _all_pairs(critic, x, y):
    """f(x_i, y_j) from the paired-rows method, which has no orientation to get wrong."""
    kx, ky = x.shape[0], y.shape[0]
    return critic.pointwise(jnp.repeat(x, ky, axis=0), jnp.tile(y, (kx, 1))).reshape(kx, ky)


@pytest.mark.parametrize("name", CRITICS)
def test_scores_rows_are_x_and_columns_are_y(name):
    critic = _critic(name)
    x, y = _data(7, 5)
    s = critic.scores(x, y)
    assert s.shape == (7, 5)
    np.testing.assert_allclose(s, _all_pairs(critic, x, y), rtol=1e-5, atol=1e-5)
    rng = np.random.default_rng(0)
    for i, j in rng.integers(0, 5, size=(6, 2)):
        ref = critic.pointwise(x[i : i + 1], y[j : j + 1])[0]
        np.testing.assert_allclose(s[i, j], ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(critic(x, y), s)  # calling the critic gives the scores


@pytest.mark.parametrize("name", CRITICS)
def test_square_batch_would_expose_a_transposed_implementation(name):
    """dx = dy and Kx = Ky: a transposed matrix has the right shape but the wrong entries."""
    critic = _critic(name, 4, 4)
    x, y = _data(6, 6, 4, 4)
    s = critic.scores(x, y)
    pairs = _all_pairs(critic, x, y)
    np.testing.assert_allclose(s, pairs, rtol=1e-5, atol=1e-5)
    assert float(jnp.max(jnp.abs(s.T - pairs))) > 1e-3  # the convention is not a symmetry
    np.testing.assert_allclose(jnp.diagonal(s), critic.pointwise(x, y), rtol=1e-5, atol=1e-6)


def test_separable_critic_is_g_of_x_times_h_of_y():
    c = nn.SeparableCritic(DX, DY, (16,), embed_dim=4, rngs=nnx.Rngs(2))
    x, y = _data(5, 6)
    np.testing.assert_allclose(c.scores(x, y), c.g(x) @ c.h(y).T, rtol=1e-6)
    cm = nn.SeparableCritic(DX, DY, (16,), embed_dim=4, marginal_terms=True, rngs=nnx.Rngs(2))
    gx, hy = cm.g(x), cm.h(y)
    expect = gx[:, :4] @ hy[:, :4].T + gx[:, 4][:, None] + hy[:, 4][None, :]
    np.testing.assert_allclose(cm.scores(x, y), expect, rtol=1e-6)


def test_bilinear_critic_is_x_w_y():
    c = nn.BilinearCritic(DX, DY, rngs=nnx.Rngs(3))
    x, y = _data(5, 6)
    np.testing.assert_allclose(c.scores(x, y), x @ c.kernel[...] @ y.T, rtol=1e-5, atol=1e-6)


def test_critics_feed_the_bounds_in_one_convention():
    """A bilinear critic set to rho/(1 - rho^2) x.y matches the analytic optimum's InfoNCE."""
    rho, k = 0.75, 2000
    kx, ke = jax.random.split(jax.random.key(4))
    x = jax.random.normal(kx, (k, 1))
    y = rho * x + math.sqrt(1 - rho**2) * jax.random.normal(ke, (k, 1))
    c = nn.BilinearCritic(1, 1, rngs=nnx.Rngs(0))
    c.kernel[...] = jnp.full((1, 1), rho / (1 - rho**2))
    s = c.scores(x, y)
    # f* = bilinear term + a(x) + b(y); InfoNCE over y for fixed x (axis 1) removes a(x) only
    b_y = -(rho**2) * y[:, 0] ** 2 / (2 * (1 - rho**2))
    exact = s + b_y[None, :]
    ref = bounds.infonce(exact).value
    assert abs(float(ref) - (-0.5 * math.log(1 - rho**2))) < 0.05
    assert abs(float(bounds.infonce(s + b_y[:, None]).value) - float(ref)) > 0.01


# --------------------------------------------------------------------------------------------
# NNX tree mode: jax.jit / vmap on modules, split / merge, gradients
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["concat", "separable", "bilinear_features"])
def test_tree_mode_and_split_merge(name):
    critic = _critic(name)
    x, y = _data(6, 6)
    eager = critic.scores(x, y)
    np.testing.assert_allclose(jax.jit(lambda c, a, b: c(a, b))(critic, x, y), eager, rtol=1e-6)
    graphdef, params = nnx.split(critic, nnx.Param)
    merged = nnx.merge(graphdef, params)
    np.testing.assert_allclose(merged.scores(x, y), eager, rtol=1e-6)

    @jax.jit
    def loss(p):
        return -bounds.surrogate(bounds.smile(nnx.merge(graphdef, p).scores(x, y), 5.0))

    grads = jax.grad(loss)(params)
    leaves = jax.tree.leaves(grads)
    assert leaves and all(np.isfinite(np.asarray(g)).all() for g in leaves)
    assert sum(float(jnp.sum(jnp.abs(g))) for g in leaves) > 0


def test_vmapped_init_builds_an_ensemble():
    template = nn.ConcatCritic(DX, DY, (8,), rngs=nnx.Rngs(0))
    graphdef, _ = nnx.split(template, nnx.Param)

    def init(key):
        return nnx.state(nn.ConcatCritic(DX, DY, (8,), rngs=nnx.Rngs(key)), nnx.Param)

    keys = jax.random.split(jax.random.key(5), 3)
    stacked = jax.vmap(init)(keys)
    x, y = _data(4, 4)
    s = jax.vmap(lambda p: nnx.merge(graphdef, p).scores(x, y))(stacked)
    assert s.shape == (3, 4, 4)
    for e in range(3):
        single = nnx.merge(graphdef, init(keys[e])).scores(x, y)
        np.testing.assert_allclose(s[e], single, rtol=1e-5, atol=1e-6)
    assert float(jnp.max(jnp.abs(s[0] - s[1]))) > 1e-3


def test_functional_training_step_with_optax():
    """The spec's pattern: split once, pure jitted step with optax, fused in lax.scan."""
    rho, k, dim = 0.8, 128, 2
    critic = nn.SeparableCritic(dim, dim, (32,), embed_dim=8, rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(critic, nnx.Param)
    tx = optax.adam(1e-2)

    def loss(p, key):
        kx, ke = jax.random.split(key)
        x = jax.random.normal(kx, (k, dim))
        y = rho * x + math.sqrt(1 - rho**2) * jax.random.normal(ke, (k, dim))
        out = bounds.infonce(nnx.merge(graphdef, p).scores(x, y))
        return -out.objective, out.value

    def step(carry, key):
        p, opt = carry
        (_, value), g = jax.value_and_grad(loss, has_aux=True)(p, key)
        updates, opt = tx.update(g, opt, p)
        return (optax.apply_updates(p, updates), opt), value

    keys = jax.random.split(jax.random.key(1), 400)
    _, values = jax.jit(lambda p, o, ks: jax.lax.scan(step, (p, o), ks))(
        params, tx.init(params), keys
    )
    truth = -dim / 2 * math.log(1 - rho**2)  # 1.02 nats
    assert float(values[0]) < 0.5 * truth  # the untrained critic
    assert abs(float(jnp.mean(values[-100:])) - truth) < 0.15


# --------------------------------------------------------------------------------------------
# construction options and input checks
# --------------------------------------------------------------------------------------------


def _linears(module):
    return [m for _, m in nnx.iter_graph(module) if isinstance(m, nnx.Linear)]


def test_initialisation_schemes():
    torch = nn.ConcatCritic(6, 4, (16,), init="torch", rngs=nnx.Rngs(0))
    for lin in _linears(torch):
        bound = 1 / math.sqrt(lin.kernel.shape[0])
        assert float(jnp.max(jnp.abs(lin.kernel[...]))) <= bound
        assert float(jnp.max(jnp.abs(lin.bias[...]))) <= bound
        assert float(jnp.max(jnp.abs(lin.bias[...]))) > 0  # torch/equinox: non-zero biases
    for init in ("lecun", "glorot"):
        c = nn.ConcatCritic(6, 4, (16,), init=init, rngs=nnx.Rngs(0))
        assert all(float(jnp.max(jnp.abs(lin.bias[...]))) == 0 for lin in _linears(c))
    k_l = _linears(nn.MLP(300, 300, rngs=nnx.Rngs(0), init="lecun"))[0].kernel[...]
    k_g = _linears(nn.MLP(300, 300, rngs=nnx.Rngs(0), init="glorot"))[0].kernel[...]
    np.testing.assert_allclose(float(jnp.std(k_l)), 1 / math.sqrt(300), rtol=0.05)
    np.testing.assert_allclose(float(jnp.std(k_g)), math.sqrt(2 / 600), rtol=0.05)


@pytest.mark.parametrize("init", ["lecun", "glorot", "torch"])
def test_fast_compiled_initialisation_draws_flaxs_eager_values(init, monkeypatch):
    # jaxmi.nn draws parameters in programs compiled with XLA's fast-compiling options
    # (jaxmi.nn._mlp._draw_jit); the values are those of Flax's own eager initialisers
    from jaxmi.nn import _mlp

    def eager_linear(a, b, rngs):
        if init == "lecun":
            return nnx.Linear(a, b, rngs=rngs)
        if init == "glorot":
            return nnx.Linear(a, b, kernel_init=nnx.initializers.glorot_uniform(), rngs=rngs)
        bound = 1 / math.sqrt(a)
        u = lambda k, shape, dt: jax.random.uniform(k, shape, dt, -bound, bound)  # noqa: E731
        return nnx.Linear(a, b, kernel_init=u, bias_init=u, rngs=rngs)

    drawn = []  # every parameter of the MLP goes through the light-compiled draw
    real = _mlp._draw_jit
    monkeypatch.setattr(_mlp, "_draw_jit", lambda *a, **kw: drawn.append(kw) or real(*a, **kw))
    m = nn.MLP(5, 3, (16, 8), init=init, rngs=nnx.Rngs(4))
    assert [kw["shape"] for kw in drawn] == (
        [(5, 16), (16,), (16, 8), (8,), (8, 3), (3,)]
        if init == "torch"
        else [(5, 16), (16, 8), (8, 3)]
    )
    rngs = nnx.Rngs(4)
    plain = [eager_linear(a, b, rngs) for a, b in ((5, 16), (16, 8), (8, 3))]
    for lin, ref in zip(_linears(m), plain, strict=True):
        np.testing.assert_array_equal(np.asarray(lin.kernel[...]), np.asarray(ref.kernel[...]))
        np.testing.assert_array_equal(np.asarray(lin.bias[...]), np.asarray(ref.bias[...]))
    if jax.default_backend() == "cpu":  # the program with the fast-compiling options ran
        assert "_tuned" in real.__dict__
    if init == "lecun":  # the bilinear critic's kernel draws the same way
        c = nn.BilinearCritic(3, 2, rngs=nnx.Rngs(2))
        ref = nnx.initializers.lecun_normal()(nnx.Rngs(2).params(), (3, 2))
        np.testing.assert_array_equal(np.asarray(c.kernel[...]), np.asarray(ref))


def test_mlp_depth_width_and_activation():
    m = nn.MLP(3, 2, (16, 8, 4), activation="gelu", rngs=nnx.Rngs(0))
    assert [lin.kernel.shape for lin in _linears(m)] == [(3, 16), (16, 8), (8, 4), (4, 2)]
    x = jnp.linspace(-2, 2, 12).reshape(4, 3)
    custom = nn.MLP(3, 2, (16, 8, 4), activation=jax.nn.gelu, rngs=nnx.Rngs(0))
    np.testing.assert_allclose(m(x), custom(x), rtol=1e-6)
    relu = nn.MLP(3, 2, (16, 8, 4), activation="relu", rngs=nnx.Rngs(0))
    assert float(jnp.max(jnp.abs(relu(x) - m(x)))) > 1e-4


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda r: nn.ConcatCritic(0, 2, rngs=r), "dim_x"),
        (lambda r: nn.ConcatCritic(2, 1.5, rngs=r), "dim_y"),
        (lambda r: nn.ConcatCritic(2, 2, (8, 0), rngs=r), r"hidden\[1\]"),
        (lambda r: nn.ConcatCritic(2, 2, 8, rngs=r), "hidden"),
        (lambda r: nn.ConcatCritic(2, 2, activation="sigmoidal", rngs=r), "activation"),
        (lambda r: nn.ConcatCritic(2, 2, activation=3, rngs=r), "activation"),
        (lambda r: nn.SeparableCritic(2, 2, init="he", rngs=r), "init"),
        (lambda r: nn.SeparableCritic(2, 2, embed_dim=0, rngs=r), "embed_dim"),
        (lambda r: nn.SeparableCritic(2, 2, marginal_terms=1, rngs=r), "marginal_terms"),
        (lambda r: nn.BilinearCritic(2, 2, init="he", rngs=r), "init"),
        (lambda r: nn.BilinearCritic(2, 2, embed_dim=-1, rngs=r), "embed_dim"),
        (lambda r: nn.GaussianConditional(2, 2, logvar="exp", rngs=r), "logvar"),
        (lambda r: nn.GaussianConditional(2, 2, min_logvar=float("nan"), rngs=r), "min_logvar"),
    ],
)
def test_bad_construction(make, match):
    with pytest.raises(ValueError, match=match):
        make(nnx.Rngs(0))


@pytest.mark.parametrize("name", CRITICS)
def test_bad_inputs(name):
    critic = _critic(name)
    x, y = _data(4, 4)
    with pytest.raises(ValueError, match="x: expected shape"):
        critic.scores(x[:, :2], y)
    with pytest.raises(ValueError, match="y: expected shape"):
        critic.scores(x, y[:, 0])
    with pytest.raises(ValueError, match="x, y: paired rows"):
        critic.pointwise(x, y[:3])
    with pytest.raises(ValueError, match="y: expected shape"):  # static check, also under jit
        jax.jit(critic.scores)(x, jnp.zeros((4, 5)))


# --------------------------------------------------------------------------------------------
# the variational Gaussian conditional q(y | x)
# --------------------------------------------------------------------------------------------


def _true_conditional(rho, logvar="softplus"):
    """A linear GaussianConditional set to p(y | x) = N(rho x, 1 - rho^2)."""
    q = nn.GaussianConditional(1, 1, (), logvar=logvar, rngs=nnx.Rngs(0))
    target = math.log(1 - rho**2)
    q.mean_net.layers[0].kernel[...] = jnp.full((1, 1), rho)
    q.mean_net.layers[0].bias[...] = jnp.zeros(1)
    q.logvar_net.layers[0].kernel[...] = jnp.zeros((1, 1))
    lo = q.min_logvar
    raw = lo + math.log(math.expm1(target - lo)) if logvar == "softplus" else math.atanh(target)
    q.logvar_net.layers[0].bias[...] = jnp.full(1, raw)
    return q


def test_gaussian_conditional_log_probs():
    rho = 0.75
    q = _true_conditional(rho)
    x, y = _data(5, 4, 1, 1)
    lp = q.log_prob_matrix(x, y)
    expect = stats.norm.logpdf(
        np.asarray(y)[None, :, 0], rho * np.asarray(x)[:, None, 0], math.sqrt(1 - rho**2)
    )
    np.testing.assert_allclose(lp, expect, rtol=1e-5, atol=1e-5)  # rows x, columns y
    x4 = x[:4]
    np.testing.assert_allclose(q.log_prob(x4, y), jnp.diagonal(q.log_prob_matrix(x4, y)), 1e-6)
    np.testing.assert_allclose(q(x4, y), q.log_prob_matrix(x4, y))
    qt = _true_conditional(rho, "tanh")
    np.testing.assert_allclose(qt.log_prob_matrix(x, y), expect, rtol=1e-5, atol=1e-5)


def test_gaussian_conditional_logvar_ranges_and_sampling():
    x = 30.0 * jax.random.normal(jax.random.key(7), (256, 3))
    qt = nn.GaussianConditional(3, 2, (16,), logvar="tanh", rngs=nnx.Rngs(1))
    qs = nn.GaussianConditional(3, 2, (16,), min_logvar=-3.0, rngs=nnx.Rngs(1))
    _, lv_t = qt.mean_logvar(x)
    _, lv_s = qs.mean_logvar(x)
    assert float(jnp.max(jnp.abs(lv_t))) <= 1.0
    assert float(jnp.min(lv_s)) >= -3.0 and float(jnp.max(lv_s)) > 1.0  # unbounded above
    q = _true_conditional(0.75)
    xs = jnp.full((20000, 1), 2.0)
    ys = q.sample(jax.random.key(8), xs)
    assert abs(float(jnp.mean(ys)) - 1.5) < 0.02
    assert abs(float(jnp.var(ys)) - (1 - 0.75**2)) < 0.02


def test_learned_conditional_recovers_the_true_one():
    """q(y|x) fitted by maximum likelihood (the bounds' objective) approaches p(y|x)."""
    rho, k = 0.75, 2000
    kx, ke = jax.random.split(jax.random.key(9))
    x = jax.random.normal(kx, (k, 1))
    y = rho * x + math.sqrt(1 - rho**2) * jax.random.normal(ke, (k, 1))
    q = nn.GaussianConditional(1, 1, (), rngs=nnx.Rngs(0))
    sub = slice(0, 64)
    np.testing.assert_allclose(  # the upper bounds' objective is the joint log-likelihood
        bounds.club(q(x[sub], y[sub])).objective, jnp.mean(q.log_prob(x[sub], y[sub])), rtol=1e-5
    )
    graphdef, params = nnx.split(q, nnx.Param)
    tx = optax.adam(0.05)

    def step(carry, _):
        p, opt = carry
        g = jax.grad(lambda p: -jnp.mean(nnx.merge(graphdef, p).log_prob(x, y)))(p)
        updates, opt = tx.update(g, opt, p)
        return (optax.apply_updates(p, updates), opt), None

    (params, _), _ = jax.jit(lambda p, o: jax.lax.scan(step, (p, o), None, length=500))(
        params, tx.init(params)
    )
    fitted = nnx.merge(graphdef, params)
    grid = jnp.linspace(-2.0, 2.0, 5)[:, None]
    mu, lv = fitted.mean_logvar(grid)
    # the maximum-likelihood fit of this sample: least squares and its residual variance
    xs, ys = np.asarray(x[:, 0], np.float64), np.asarray(y[:, 0], np.float64)
    slope, icpt = np.polyfit(xs, ys, 1)
    resid_var = np.var(ys - (slope * xs + icpt))
    np.testing.assert_allclose(mu[:, 0], slope * grid[:, 0] + icpt, atol=0.02)
    np.testing.assert_allclose(jnp.exp(lv[2]), resid_var, rtol=0.03)  # at x = 0
    np.testing.assert_allclose(mu, rho * grid, atol=0.05)  # ... and close to the truth
    np.testing.assert_allclose(jnp.exp(lv), 1 - rho**2, rtol=0.15)
    lp, lp_true = fitted(x[:500], y[:500]), _true_conditional(rho)(x[:500], y[:500])
    assert abs(float(bounds.l1out(lp).value - bounds.l1out(lp_true).value)) < 0.05


def test_baseline_critic_log_baseline_is_per_column():
    base = nn.BaselineCritic(nn.SeparableCritic(DX, DY, (8,), rngs=nnx.Rngs(0)), rngs=nnx.Rngs(1))
    x, y = _data(5, 5)
    la = base.log_baseline(y)
    assert la.shape == (5,)
    np.testing.assert_allclose(la[2], base.log_baseline(y[2:3])[0], rtol=1e-6)
    np.testing.assert_allclose(base.scores(x, y), base.critic.scores(x, y), rtol=1e-6)
    with pytest.raises(ValueError, match="y: expected shape"):
        base.log_baseline(x)
    with pytest.raises(ValueError, match="critic: expected"):
        nn.BaselineCritic(nn.MLP(2, 1, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(0))
