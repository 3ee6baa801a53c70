"""Toy distributions with known mutual information (``jaxmi.tasks``).

Every task is a :class:`Task`: ``name``, ``title``, ``dim_x``, ``dim_y``, the ground truth ``mi``
in nats (``mi_stderr``, ``mi_method``), ``params`` and ``sample(key, n) -> (x, y)`` (jittable
with static ``n``, vmappable over keys). Gaussian, Student-t and mixture tasks also carry exact
``log_prob_xy``, ``log_prob_x``, ``log_prob_y`` and ``pmi``.

Families: the 40 bmi v1 tasks (:data:`BMI_V1`), bmi v2 mixtures (:data:`BMI_V2`), the GMM-MI
paper's distributions (:data:`GMMMI`), the Gaussian staircase (:data:`STAIRCASE`, its MI
levels in :data:`STAIRCASE_LEVELS`) and discrete–continuous tasks (:data:`DISCRETE`).
Constructors build variants with any parameters.

Example:
    >>> import jax
    >>> from jaxmi import tasks
    >>> task = tasks.get("spiral-multinormal-sparse-5-5-2-2.0")
    >>> x, y = task.sample(jax.random.key(0), 1000)
    >>> x.shape, round(task.mi, 4)
    ((1000, 5), 1.0217)
"""

from jaxmi.tasks._base import Task
from jaxmi.tasks._bimodal import bimodal
from jaxmi.tasks._bmi import (
    additive_uniform,
    bivariate_normal,
    gaussian_mi,
    multinormal,
    multinormal_dense,
    multinormal_lvm,
    multinormal_sparse,
    student_identity,
    student_t,
    student_t_entropy,
)
from jaxmi.tasks._discrete import (
    categorical_gaussian,
    categorical_gaussian_mi,
    gao_uniform_mixture,
    gao_uniform_mixture_multivariate,
    zero_inflated_poisson,
    zero_inflated_poisson_mi,
)
from jaxmi.tasks._gmmmi import (
    gamma_exponential,
    gamma_exponential_mi,
    gmmmi_dataset,
    gmmmi_normal,
    weinman,
    weinman_mi,
)
from jaxmi.tasks._mixtures import (
    concentric_gaussians,
    galaxy,
    mc_mutual_information,
    mixture_ai,
    mixture_task,
    mixture_x,
    sparse_with_inliers,
    waves,
)
from jaxmi.tasks._registry import BMI_V1, BMI_V2, DISCRETE, GMMMI, STAIRCASE, get, names
from jaxmi.tasks._staircase import (
    STAIRCASE_LEVELS,
    staircase,
    staircase_rho,
    staircase_schedule,
)
from jaxmi.tasks._transforms import (
    asinh,
    half_cube,
    normal_cdf,
    power,
    spiral,
    swissroll_x,
    transformed,
    wiggly,
)

__all__ = [
    "BMI_V1",
    "BMI_V2",
    "DISCRETE",
    "GMMMI",
    "STAIRCASE",
    "STAIRCASE_LEVELS",
    "Task",
    "additive_uniform",
    "asinh",
    "bimodal",
    "bivariate_normal",
    "categorical_gaussian",
    "categorical_gaussian_mi",
    "concentric_gaussians",
    "galaxy",
    "gamma_exponential",
    "gamma_exponential_mi",
    "gao_uniform_mixture",
    "gao_uniform_mixture_multivariate",
    "gaussian_mi",
    "get",
    "gmmmi_dataset",
    "gmmmi_normal",
    "half_cube",
    "mc_mutual_information",
    "mixture_ai",
    "mixture_task",
    "mixture_x",
    "multinormal",
    "multinormal_dense",
    "multinormal_lvm",
    "multinormal_sparse",
    "names",
    "normal_cdf",
    "power",
    "sparse_with_inliers",
    "spiral",
    "staircase",
    "staircase_rho",
    "staircase_schedule",
    "student_identity",
    "student_t",
    "student_t_entropy",
    "swissroll_x",
    "transformed",
    "waves",
    "weinman",
    "weinman_mi",
    "wiggly",
    "zero_inflated_poisson",
    "zero_inflated_poisson_mi",
]
