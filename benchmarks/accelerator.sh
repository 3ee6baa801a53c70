#!/usr/bin/env bash
# Accelerator figures: the test suite and the benchmarks on a GPU (or TPU) machine.
#
#   bash benchmarks/accelerator.sh OUTDIR STAGE...
#
# Stages, run in the order given; each writes its log (and JSON) under OUTDIR:
#   env     versions of Python, JAX, Flax, optax, chex, NumPy and the devices JAX sees
#   tests   the whole test suite on the accelerator (pytest -n 8, JAX's default backend)
#   main    `jaxmi benchmark`, the README's main job
#   speed   benchmarks/gmm_mi_speed.py (gaussian, D3, cube; 1 process run per figure)
#   pairs   benchmarks/gmm_mi_pairwise.py (10 x 10 at N = 5,000)
#   neural  benchmarks/neural_bmi.py
#   strategies  benchmarks/gmm_mi_strategies.py --pairwise (the EM engine's batching strategies)
#
# It runs jaxmi from this checkout (no install needed where jax, flax, optax, chex, numpy and
# matplotlib are installed). The reference package (gmm-mi 0.8.2, for `speed` and `pairs`) runs
# on the same machine's CPU, single-threaded, from wheels in .whl/ when they are there (see
# benchmarks/README.md, "Accelerator runs"): gmm_mi-0.8.2 and scikit-learn 1.5.2 for the
# machine's Python, installed with --target into $REF_SITE.
set -u
OUT=${1:?usage: accelerator.sh OUTDIR STAGE...}
shift
mkdir -p "$OUT"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${PYTHON:-python3}
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
# several processes share the device (xdist workers; the benchmarks' fresh processes)
export XLA_PYTHON_CLIENT_PREALLOCATE=false
REF_SITE=${REF_SITE:-/tmp/gmmmi-ref-site}
REF_ARGS=()
if compgen -G ".whl/gmm_mi-*.whl" >/dev/null; then
  if "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$REF_SITE" .whl/gmm_mi-*.whl .whl/scikit_learn-*.whl; then
    printf '#!/bin/sh\nPYTHONPATH=%s exec %s "$@"\n' "$REF_SITE" "$(command -v "$PY")" \
      >"$REF_SITE/python"
    chmod +x "$REF_SITE/python"
    REF_ARGS=(--ref-python "$REF_SITE/python")
  fi
fi

stage() {  # name, limit in seconds, command...
  local name=$1 limit=$2
  shift 2
  echo "== $name ($(date +%T))"
  local t0=$SECONDS
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  echo "== $name: exit $rc after $((SECONDS - t0)) s"
  tail -n 25 "$OUT/$name.log"
}

for s in "$@"; do
  case $s in
    env)
      stage env 120 "$PY" -c 'import sys, jax, flax, optax, chex, numpy, matplotlib, jaxmi
print(sys.version.split()[0], "jax", jax.__version__, "flax", flax.__version__, "optax",
      optax.__version__, "chex", chex.__version__, "numpy", numpy.__version__, "jaxmi",
      jaxmi.__version__)
print(jax.default_backend(), jax.devices())'
      ;;
    tests) stage tests "${TESTS_LIMIT:-420}" "$PY" -m pytest -q -n 8 -p no:cacheprovider ;;
    main) stage main 300 "$PY" -m jaxmi benchmark --out "$OUT" ;;
    speed)
      stage speed 420 "$PY" benchmarks/gmm_mi_speed.py --cases gaussian,D3,cube \
        --process-runs 1 "${REF_ARGS[@]}" --out "$OUT/gmm_mi_speed.json"
      ;;
    pairs)
      stage pairs 420 "$PY" benchmarks/gmm_mi_pairwise.py "${REF_ARGS[@]}" \
        --out "$OUT/gmm_mi_pairwise.json"
      ;;
    strategies)
      stage strategies 330 "$PY" benchmarks/gmm_mi_strategies.py --pairwise \
        --out "$OUT/gmm_mi_strategies.json"
      ;;
    neural) stage neural 420 "$PY" benchmarks/neural_bmi.py --out "$OUT/neural_bmi.json" ;;
    *) echo "unknown stage $s" >&2 ;;
  esac
done
