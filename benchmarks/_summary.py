"""Regenerate the results table in benchmarks/README.md from benchmarks/results/*.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

HERE = Path(__file__).parent


def _device(d: dict) -> str:
    """``Device: backend (processor, N cores), jax X``: the opening of every table's caption."""
    dev = d["device"]
    return (
        f"Device: {dev['backend']} ({dev['processor']}, {dev['cpu_count']} cores), "
        f"jax {d['versions']['jax']}"
    )


def gmm_em_table(path: Path) -> str:
    d = json.loads(path.read_text())
    lines = [
        f"{_device(d)}, scikit-learn {d['versions']['sklearn']}; "
        f"{d['settings']['n_fits']} fits, N={d['settings']['n']}, tol={d['settings']['tol']}, "
        f"reg_covar={d['settings']['reg_covar']}, single-threaded; {d['settings']['timing']}.",
        "",
        "| K | sklearn s | iters (mean/max) | jaxmi f32 s (strategy) | **ratio f32** | map | vmap "
        "| jaxmi f64 s | ratio f64 | max abs Δll f64 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in d["rows"]:
        lines.append(
            f"| {r['K']} | {r['sklearn_s']:.2f} "
            f"| {r['sklearn_iter_mean']:.1f}/{r['sklearn_iter_max']} "
            f"| {r['jaxmi_f32_s']:.3f} ({r['jaxmi_f32_strategy']}) | **{r['ratio_f32']:.1f}x** "
            f"| {r['ratio_f32_map']:.1f}x | {r['ratio_f32_vmap']:.1f}x | {r['jaxmi_f64_s']:.3f} "
            f"| {r['ratio_f64']:.1f}x | {r['max_abs_dll_f64']:.0e} |"
        )
    lines += ["", f"Target ({d['target']}): {'met' if d['target_met'] else 'NOT met'}."]
    return "\n".join(lines)


def _by_key(r: dict) -> str:
    if "ratio_steady_keys_mean" not in r:
        return "n/a"
    ks = ",".join(str(k["k"]) for k in r["jaxmi_steady_by_key"])
    return f"{ks} / {r['ratio_steady_keys_mean']:.0f}x"


def gmm_mi_speed_table(path: Path) -> str:
    d = json.loads(path.read_text())
    lines = [
        f"{_device(d)}; {d['settings']['defaults']}; reference: "
        f"{d['settings']['reference']}. Export cache (fast-start extra): "
        f"{'on' if all(r.get('export_cache') for r in d['rows']) else 'off'}; load average "
        f"(1/5/15 min) at the end {d['device'].get('load_average', 'n/a')}; each process figure "
        f"the best of {d['settings'].get('process_runs', 1)} fresh processes.",
        "",
        "| case | N | truth | jaxmi | reference | steady jaxmi / ref s | **steady ratio** "
        "| steady over keys: K* / ratio of the mean "
        "| process cold jaxmi / ref s | ratio | process warm jaxmi s | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in d["rows"]:
        if "ref_mi" not in r:
            continue
        lines.append(
            f"| {r['case']} | {r['n']} | {r['truth']:.4f} "
            f"| {r['jaxmi_mi']:.4f} ± {r['jaxmi_std']:.4f} "
            f"| {r['ref_mi']:.4f} ± {r['ref_std']:.4f} "
            f"| {r['jaxmi_steady_s']:.3f} / {r['ref_estimate_s']:.2f} "
            f"| **{r['ratio_steady']:.0f}x** | {_by_key(r)} "
            f"| {r['jaxmi_process_cold_s']:.1f} / {r['ref_process_s']:.1f} "
            f"| {r['ratio_process_cold']:.2f}x | {r['jaxmi_process_warm_s']:.1f} "
            f"| {r['ratio_process_warm']:.2f}x |"
        )
    lines += ["", f"Targets: {d['targets']}."]
    return "\n".join(lines)


def _coverage(v: float, digits: int) -> str:
    """A coverage figure, bold when it is below the issue's 0.93."""
    return f"{v:.{digits}f}" if v >= 0.93 else f"**{v:.{digits}f}**"


def gmm_mi_accuracy_table(path: Path) -> str:
    d = json.loads(path.read_text())
    mixtures = d["settings"].get("suite") == "mixtures"
    truths = {r["transform"]: r["truth"] for r in d["rows"]}
    truth = ", ".join(f"{k} {v:.6f}" for k, v in truths.items()) if mixtures else "0.223144"
    lines = [
        f"Settings: {d['settings']['options']}; truth {truth} nats; "
        f"jax {d['versions']['jax']} on {d['device']['backend']}.",
        "",
        f"| {'data' if mixtures else 'transform'} | N | R | bias (ref) | sd (ref) "
        "| mean σ (ref) | ±1σ cov (ref) "
        "| ±2σ cov (ref) | bias ok | sd ok | ±2σ ≥ 0.93 | point: bias | sd | ±2σ cov |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in d["rows"]:
        if "point_bias" in r:  # runs before 2026-11-24 did not record the point estimates
            point = f"{r['point_bias']:+.4f} | {r['point_sd']:.4f} | {r['point_cov2']:.3f}"
        else:
            point = "– | – | –"
        lines.append(
            f"| {r['transform']} | {r['n']} | {r['realisations']} "
            f"| {r['bias']:+.4f} ({r.get('ref_bias', float('nan')):+.4f}) "
            f"| {r['sd']:.4f} ({r.get('ref_sd', float('nan')):.4f}) "
            f"| {r['mean_sigma']:.4f} ({r.get('ref_mean_sigma', float('nan')):.4f}) "
            f"| {r['cov1']:.2f} ({r.get('ref_cov1', float('nan')):.2f}) "
            f"| {r['cov2']:.2f} ({r.get('ref_cov2', float('nan')):.2f}) "
            f"| {'yes' if r.get('ok_bias') else 'no'} | {'yes' if r.get('ok_sd') else 'no'} "
            f"| {'yes' if r['ok_cov2'] else 'no'} | {point} |"
        )
    lines += [
        "",
        f'Criteria: {d["criteria"]}. "point": the full-data fit\'s MI (`MIResult.point`) '
        "with the same bootstrap σ, in place of the bootstrap mean (`mi`); – where the run did not "
        "record it.",
    ]
    rules = [r for r in d["rows"] if "corrected_bias" in r]
    if rules:  # recorded since 2026-11-24 (spec §7.5's open question)
        lines += [
            "",
            "Other read-outs of the same bootstraps (coverage of the truth; bold: below 0.93):",
            "",
            f"| {'data' if mixtures else 'transform'} | N | `mi` ± 2σ | `point` ± 2σ "
            "| 2·point − mi: bias | sd | ± 2σ | 95% percentile interval | 95% basic interval |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rules:
            mi, point, corrected, percentile, basic = (
                _coverage(r[k], 3)
                for k in ("cov2", "point_cov2", "corrected_cov2", "percentile_cov", "basic_cov")
            )
            lines.append(
                f"| {r['transform']} | {r['n']} | {mi} | {point} "
                f"| {r['corrected_bias']:+.4f} | {r['corrected_sd']:.4f} "
                f"| {corrected} | {percentile} | {basic} |"
            )
    return "\n".join(lines)


def gmm_mi_accuracy_tasks_table(path: Path) -> str:
    d = json.loads(path.read_text())
    lines = [
        f"Settings: {d['settings']['options']}; jax {d['versions']['jax']} on "
        f"{d['device']['backend']}. Bias in nats and in units of its standard error "
        "(sd / sqrt(R)); coverage = share of realisations whose ±kσ bar holds the truth.",
        "",
        "| task | N | R | truth | bias | bias / SE | sd | mean σ | ±1σ cov | ±2σ cov "
        "| `point`: bias, ±2σ cov | 2·point − mi: bias, ±2σ cov | time |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    for r in d["rows"]:
        if "corrected_bias" in r:
            other = (
                f"{r['point_bias']:+.4f}, {_coverage(r['point_cov2'], 2)} "
                f"| {r['corrected_bias']:+.4f}, {_coverage(r['corrected_cov2'], 2)}"
            )
        else:
            other = "– | –"
        lines.append(
            f"| {r['task']} | {r['n']} | {r['realisations']} | {r['truth']:.4f} "
            f"| {r['bias']:+.4f} | {r['bias_in_se']:+.1f} | {r['sd']:.4f} "
            f"| {r['mean_sigma']:.4f} | {r['cov1']:.2f} | {_coverage(r['cov2'], 2)} | {other} "
            f"| {r['seconds']:.0f} s |"
        )
    lines += [
        "",
        "Bold: ±2σ coverage below 0.93. `point`: the full-data fit's MI with the same σ; "
        "2·point − mi: the bootstrap bias correction with the same σ; – where the run did not "
        "record them.",
    ]
    return "\n".join(lines)


def gmm_mi_integral_table(path: Path) -> str:
    d = json.loads(path.read_text())
    st, tim = d["settings"], d["timing"]
    points = st["points"]
    lines = [
        f"{_device(d)}; accuracy in {st['accuracy_dtype']} on the true mixtures, "
        f"RMSE against the truth over {st['keys']} keys; RQMC with {st['n_shifts']} "
        f'randomisations; "MC bound" = sd(pmi)/sqrt({st["mc_samples"]}) from a '
        f'{st["pilot"]}-draw pilot, "MC seen" = measured RMSE of plain MC with '
        f"{st['mc_samples']} draws.",
        "",
        "| task | d | K | truth | MC bound | MC seen | "
        + " | ".join(f"RQMC {n}" for n in points)
        + " |",
        "|---|---|---|---|---|---|" + "---|" * len(points),
    ]
    for r in d["rows"]:
        cells = []
        for n in points:
            v = r["rqmc"][str(n)]["rmse"]
            ok = v <= st["margin"] * r["mc_bound"]
            cells.append(f"**{v:.1e}**" if ok else f"{v:.1e}")
        lines.append(
            f"| {r['task']} | {r['d']} | {r['components']} | {r['truth']:.6f} "
            f"| {r['mc_bound']:.1e} | {r['mc_rmse']:.1e} | " + " | ".join(cells) + " |"
        )
    t = tim["steady_s"]
    by = d.get("default_points_by_dim")
    timed = by["d<=2"] if by else d["default_points"]
    lines += [
        "",
        f"Bold: RMSE <= {st['margin']} x MC bound. Smallest passing count ({d['criterion']}): "
        + (
            f"**{by['d<=2']} points** on the 2-D tasks, **{by['d>2']}** above (library "
            f"defaults: {st['library_default_points']})."
            if by
            else f"**{d['default_points']} points**."
        ),
        "",
        f"Speed ({tim['mixtures']} mixtures, capacity {tim['capacity']}, {tim['active']} active "
        f"components, d = {tim['d']}, {tim['dtype']}, steady state): plain MC 1e5 "
        f"{t['mc_1e5']:.3f} s; RQMC {timed} {t['rqmc_default']:.3f} s "
        f"(**{tim['speedup']:.1f}x**; lax.map {t['rqmc_default_map']:.3f} s, "
        f"{tim['speedup_map']:.1f}x); RQMC {timed // 2} "
        f"{t['rqmc_half_default']:.3f} s. First call (compilation): MC "
        f"{tim['first_call_s']['mc_1e5']:.1f} s, RQMC {tim['first_call_s']['rqmc_default']:.1f} s.",
    ]
    return "\n".join(lines)


def _sweep_cells(r: dict, st: dict) -> list[str]:
    """One task's RQMC RMSE per point count, as a multiple of MC's (bold: passes the rule)."""
    cells = []
    for n in st["points"]:
        v = r["rqmc"].get(str(n))
        if v is None:
            cells.append("\u2013")
            continue
        ratio = v["rmse"] / r["mc_bound"]
        # the benchmark's allowance for the RMSE's own sampling error, as it recorded it
        ok = v["rmse"] * st["sampling"] <= st["margin"] * r["mc_bound"]
        cells.append(f"**{ratio:.2f}x**" if ok else f"{ratio:.2f}x")
    seen = "\u2013" if r["mc_rmse"] is None else f"{r['mc_rmse'] / r['mc_bound']:.2f}x"
    return [f"{r['mc_bound']:.1e}", seen, *cells]


def _sweep_footer(d: dict, per: str) -> list[str]:
    st = d["settings"]
    return [
        "",
        f"Bold: passes ({d['criterion']}). Smallest passing count{per}: "
        + ", ".join(f"{g}: **{n}**" for g, n in d["chosen_points"].items())
        + f" (library defaults, by the largest dimension each covers: "
        f"{st['library_default_points']}).",
    ]


def _rules_timing_row(t: dict, first: list[str]) -> str:
    e, s_ = t["estimates"], t["steady_s"]
    cells = [
        *first,
        f"{e['mc_1e5']['mi']:.4f} \u00b1 {e['mc_1e5']['std']:.4f}",
        f"{s_['mc_1e5']:.2f}" if s_["mc_1e5"] >= 1 else f"{s_['mc_1e5']:.3f}",
        f"{e['default']['mi']:.4f} \u00b1 {e['default']['std']:.4f}",
        f"{s_['default']:.2f}" if s_["default"] >= 1 else f"{s_['default']:.3f}",
        f"**{t['speedup']:.1f}x**",
    ]
    return "| " + " | ".join(cells) + " |"


def gmm_mi_categorical_integral_table(path: Path) -> str:
    d = json.loads(path.read_text())
    st = d["settings"]
    points = st["points"]
    lines = [
        f"{_device(d)}; accuracy in {st['accuracy_dtype']} on true class mixtures, RMSE against "
        f"the truth over {st['keys']} keys, as a multiple of the MC error with "
        f"{st['mc_samples']} draws per class (sqrt(sum_c pi_c^2 var_c / {st['mc_samples']}), "
        f"var_c from a {st['pilot']}-draw pilot); RQMC with {st['n_shifts']} randomisations, "
        "points per class. \u2013: not run (50 classes stop at 16,384 points).",
        "",
        "| task | d | C | truth | MC error | MC seen | "
        + " | ".join(f"{n}" for n in points)
        + " |",
        "|---|---|---|---|---|---|" + "---|" * len(points),
    ]
    for r in d["rows"]:
        cells = [r["task"], str(r["d"]), str(r["classes"]), f"{r['truth']:.6f}"]
        lines.append("| " + " | ".join(cells + _sweep_cells(r, st)) + " |")
    lines += _sweep_footer(d, " per class")
    if d["timing"]:
        lines += [
            "",
            "`gmm_mi_categorical` steady state (N = 3,000, `categorical_gaussian` tasks, "
            "defaults otherwise; the faster of 2 interleaved calls):",
            "",
            "| classes | truth | MC 1e5: estimate | s | default: estimate | s | **speed-up** |",
            "|---|---|---|---|---|---|---|",
        ]
        for t in d["timing"]:
            lines.append(_rules_timing_row(t, [str(t["classes"]), f"{t['truth']:.4f}"]))
    return "\n".join(lines)


def gmm_kl_integral_table(path: Path) -> str:
    d = json.loads(path.read_text())
    st = d["settings"]
    points = st["points"]
    lines = [
        f"{_device(d)}; accuracy in {st['accuracy_dtype']} on true mixture pairs (p, q), RMSE "
        f"of KL[p || q] against the truth over {st['keys']} keys, as a multiple of the MC error "
        f"with {st['mc_samples']} draws (sd_p[log p - log q] / sqrt({st['mc_samples']}), the sd "
        f"from a {st['pilot']}-draw pilot); RQMC with {st['n_shifts']} randomisations.",
        "",
        "| task | d | K (p, q) | truth | MC error | MC seen | "
        + " | ".join(f"{n}" for n in points)
        + " |",
        "|---|---|---|---|---|---|" + "---|" * len(points),
    ]
    for r in d["rows"]:
        k = ", ".join(str(c) for c in r["components"])
        cells = [r["task"], str(r["d"]), k, f"{r['truth']:.6f}"]
        lines.append("| " + " | ".join(cells + _sweep_cells(r, st)) + " |")
    lines += _sweep_footer(d, "")
    if d["timing"]:
        lines += [
            "",
            "`gmm_kl(mode='separate')` steady state (N = 2,000 per sample drawn from the task's "
            "pair, defaults otherwise; the faster of 2 interleaved calls, each waited for):",
            "",
            "| pair | d | K* (x, y) | MC 1e5: estimate | s | default: estimate | s | "
            "**speed-up** |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for t in d["timing"]:
            k = ", ".join(str(c) for c in t["n_components"])
            lines.append(_rules_timing_row(t, [t["task"], str(t["d"]), k]))
    return "\n".join(lines)


def gmm_mi_bootstrap_bias_table(path: Path) -> str:
    d = json.loads(path.read_text())
    st = d["settings"]
    reads = ("mi", "point", "2 point - mi")
    lines = [
        f"{_device(d)}; defaults; flagged: |mi - point| > {st['threshold']} std (the warning's "
        f"threshold, at least {st['min_replicates']} replicates). Coverage: the share of data "
        "sets whose value +- 2 std holds the truth.",
        "",
        "| case | truth | data sets | (mi - point) / std: median | flagged | bias: "
        + " / ".join(reads)
        + " | coverage: "
        + " / ".join(reads)
        + " | coverage on the flagged |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, c in d["cases"].items():
        flagged = c["coverage_flagged"]
        lines.append(
            f"| {name} | {c['truth']:.4f} | {c['n_data']} | {c['ratio_median']:.2f} "
            f"| {c['flagged']} | "
            + " / ".join(f"{c['bias'][k]:+.4f}" for k in reads)
            + " | "
            + " / ".join(f"{c['coverage'][k]:.2f}" for k in reads)
            + " | "
            + (" / ".join(f"{flagged[k]:.2f}" for k in reads) if flagged else "\u2013")
            + " |"
        )
    return "\n".join(lines)


def gmm_mi_marginals_table(path: Path) -> str:
    d = json.loads(path.read_text())
    st = d["settings"]
    lines = [
        f"{_device(d)}; N = {st['n']}, {st['realisations']} realisations per row, jaxmi "
        "defaults but `marginals`. Coverage: the share of realisations whose `mi +- 2 std` "
        "holds the truth; worst: the largest |mi - truth| / std.",
        "",
        "| case | truth | marginals | mean | bias (SE) | mean std | coverage | worst | K* median "
        "(range) | median time |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in d["rows"]:
        lo, hi = r["k_range"]
        lines.append(
            f"| {r['case']} | {r['truth']:.4f} | `{r['marginals']}` | {r['mean']:.4f} "
            f"| {r['bias']:+.4f} ({r['bias_se']:.4f}) | {r['mean_sigma']:.4f} "
            f"| {r['coverage_2sigma']:.2f} | {r['max_sigmas_off']:.1f} "
            f"| {r['k_median']:.0f} ({lo}-{hi}) | {r['median_s']:.3f} s |"
        )
    return "\n".join(lines)


def gmm_mi_pairwise_table(path: Path) -> str:
    d = json.loads(path.read_text())
    r = d["row"]
    lines = [
        f"{_device(d)}; {r['p']}x{r['q']} pairs, N={r['n']}, "
        f"{d['settings']['defaults']}"
        f"{', restart_stalled=True' if r.get('restart_stalled') else ''}; reference: "
        f"{d['settings']['reference']}.",
        "",
        f"jaxmi: first call {r['jaxmi_first_s']:.1f} s, steady {r['jaxmi_steady_s']:.1f} s "
        f"({r['jaxmi_per_pair_s'] * 1e3:.0f} ms per pair); K* histogram {r['jaxmi_k_hist']}.",
    ]
    if "ref_pairs" in r:
        lines += [
            "",
            "| pair | jaxmi K* | reference MI ± std | reference s | jaxmi MI ± std |",
            "|---|---|---|---|---|",
        ]
        for p in r["ref_pairs"]:
            lines.append(
                f"| ({p['i']}, {p['j']}) | {p.get('k', '')} | {p['mi']:.4f} ± {p['std']:.4f} "
                f"| {p['s']:.1f} "
                f"| {p['jaxmi_mi']:.4f} ± {p['jaxmi_std']:.4f} |"
            )
        ok = r["ratio_per_pair"] >= 200
        lines += [
            "",
            f"Reference {r['ref_per_pair_s']:.1f} s per pair (strata weighted by their share of "
            f"the matrix); jaxmi throughput "
            f"**{r['ratio_per_pair']:.0f}x** per pair (target {d['target']}: "
            f"{'met' if ok else 'NOT met'}).",
        ]
    if "accuracy" in r:
        acc = r["accuracy"]
        ind = acc["independent"]
        lines += [
            "",
            "Dependent pairs (latent i against factor i) against their truth, by numerical "
            "integration:",
            "",
            "| pair | map | truth | jaxmi MI ± std | error / std | reference MI ± std "
            "| error / std |",
            "|---|---|---|---|---|---|---|",
        ]
        ref = {(q["i"], q["j"]): q for q in acc.get("reference_dependent", [])}
        for p in acc["dependent"]:
            q = ref.get(tuple(p["pair"]))
            them = f"{q['mi']:.4f} ± {q['std']:.4f} | {q['z']:+.1f}" if q else "– | –"
            lines.append(
                f"| ({p['pair'][0]}, {p['pair'][1]}) | {p['map']} | {p['truth']:.4f} | "
                f"{p['mi']:.4f} ± {p['std']:.4f} | {p['z']:+.1f} | {them} |"
            )
        lines += [
            "",
            f"The {ind['count']} independent pairs: median MI {ind['median_mi']:.4f}, max "
            f"{ind['max_mi']:.4f} nats; {ind['share_above_2std']:.0%} above 2 std. The stall "
            f"warning named {r['stall_warning_pairs']} pairs.",
        ]
    return "\n".join(lines)


def neural_staircase_table(path: Path) -> str:
    d = json.loads(path.read_text())
    st = d["settings"]
    levels = st["levels"]
    load = d.get("load_average", {})
    lines = [
        f"{_device(d)}; load average {_load(load)}; d={st['dim']}, batch "
        f"{st['batch']} (log K = {st['log_batch']:.2f}), {st['optimizer']}, hidden "
        f"{tuple(st['hidden'])}, steps per stair: "
        + ", ".join(f"{k} {v}" for k, v in st["steps_per_stage"].items())
        + f" (spec: {st['spec_steps_per_stage']}); total {d['total_s'] / 60:.1f} min.",
        "",
        f"Cells: mean ± sd of the per-step training-batch estimate over the last "
        f"{st['tail_fraction']:.0%} of each stair, (bias against the truth).",
        "",
        "| bound | critic | "
        + " | ".join(f"I = {v:g}" for v in levels)
        + " | max | ms/step (wall, incl. compile) |",
        "|---|---|" + "---|" * len(levels) + "---|---|",
    ]
    for r in d["rows"]:
        cells = [f"{s['mean']:.2f} ± {s['sd']:.2f} ({s['bias']:+.2f})" for s in r["stages"]]
        lines.append(
            f"| {r['label']} | {r['critic']} | "
            + " | ".join(cells)
            + f" | {r['max_value']:.2f} | {r['ms_per_step']:.1f} |"
        )
    lines += ["", f"![staircase](results/{st['figure']})"]
    return "\n".join(lines)


def _load(load: dict) -> str:
    if not load:
        return "not recorded"
    return (
        "/".join(f"{v:.1f}" for v in load["before"])
        + " before, "
        + "/".join(f"{v:.1f}" for v in load["after"])
        + " after (1/5/15 min)"
    )


def neural_bmi_table(path: Path) -> str:
    d = json.loads(path.read_text())
    st, sm, rows = d["settings"], d["summary"], d["rows"]
    lines = [
        f"{_device(d)}; load average {_load(d.get('load_average', {}))}; "
        f"{st['protocol']}, N={st['n']}, data seeds {st['data_seeds']}.",
        "",
        f"**Reference:** {d['reference']}",
        "",
        "Times per estimate in seconds, wall (process CPU); ratios = bmi / jaxmi.",
        "",
        "| task (truth) | bound | jaxmi, seeds | mean | bmi mean | Δ vs bmi | steps "
        "| first call | steady | bmi | **ratio first** | ratio steady | CPU ratio first / steady |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} ({r['true_mi']:.4f}) | {r['bound']} "
            f"| {', '.join(f'{v:.3f}' for v in r['estimates'])} | {r['mean']:.3f} "
            f"| {r['bmi_mean']:.3f} | {r['diff_vs_bmi']:+.3f} "
            f"| {'/'.join(str(s) for s in r['steps'])} "
            f"| {r['first_call_s']:.1f} ({r['first_call_cpu_s']:.1f}) "
            f"| {r['steady_median_s']:.1f} ({r['steady_cpu_median_s']:.1f}) "
            f"| {r['bmi_wall_s']:.1f} ({r['bmi_cpu_s']:.1f}) "
            f"| **{r['ratio_first']:.1f}x** | {r['ratio_steady']:.1f}x "
            f"| {r['ratio_cpu_first']:.1f}x / {r['ratio_cpu_steady']:.1f}x |"
        )
    closer = sum(abs(r["bias"]) <= abs(r["bmi_bias"]) + 0.03 for r in rows)
    lines += [
        "",
        f"Speed target ({d['targets']['speed']}): first call (compilation included) "
        f"{sm['ratio_first_min']:.1f}x-{max(r['ratio_first'] for r in rows):.1f}x, "
        f"steady {sm['ratio_steady_min']:.1f}x-{max(r['ratio_steady'] for r in rows):.1f}x: "
        f"**{'met' if sm['speed_target_met_first'] else 'NOT met'}**. Accuracy: "
        f"{sm['accuracy_cells_within_0_03']}/{sm['accuracy_cells']} cells within 0.03 nats of "
        f"bmi's mean; {closer}/{len(rows)} with |bias| no more than 0.03 nats above bmi's.",
        "",
        f"Seeds at once ({d['scaling'][0]['task']}, steady, min of {st['repeats']} interleaved "
        "repeats):",
        "",
        "| bound | mode | 1 seed s (steps) | "
        f"{d['scaling'][0]['seeds']} seeds s (max steps) | **ratio** | CPU-time ratio |",
        "|---|---|---|---|---|---|",
    ]
    for r in d["scaling"]:
        lines.append(
            f"| {r['bound']} | {r['mode']} | {r['one_seed_s']:.2f} ({r['one_seed_steps']}) "
            f"| {r['many_seeds_s']:.2f} ({max(r['many_seeds_steps'])}) "
            f"| **{r['ratio']:.2f}x** | {r['ratio_cpu']:.2f}x |"
        )
    lines += [
        "",
        f"Target ({d['targets']['seeds']}): **{'met' if sm['seeds_target_met'] else 'NOT met'}** "
        f"(worst {sm['seeds_ratio_max']:.2f}x).",
    ]
    return "\n".join(lines)


def neural_bmi_spread_table(path: Path) -> str:
    d = json.loads(path.read_text())
    st, sm, rows = d["settings"], d["summary"], d["rows"]
    lines = [
        f"{_device(d)}; {st['protocol']}, N={st['n']}, data seeds "
        f"{st['data_seeds']} x {st['keys_per_seed']} training keys ({st['training_keys']}).",
        "",
        "| task (truth) | bound | jaxmi mean over seeds x keys | per data seed | key sd "
        "| bmi mean | Δ vs bmi (SE) | MINE: fresh-permutation sd / its max adds "
        "| jaxmi + that |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        me = r.get("mine_eval")
        mine = f"{me['perm_sd']:.3f} / {me['max_excess']:+.3f}" if me else "–"
        with_rule = f"{me['mean_with_bmi_rule']:.3f}" if me else "–"
        lines.append(
            f"| {r['task']} ({r['true_mi']:.4f}) | {r['bound']} | {r['mean']:.3f} "
            f"| {', '.join(f'{v:.3f}' for v in r['seed_means'])} | {r['key_sd']:.3f} "
            f"| {r['bmi_mean']:.3f} | {r['diff_vs_bmi']:+.3f} ({r['z']:+.1f}) | {mine} "
            f"| {with_rule} |"
        )
    lines += [
        "",
        f"{sm['within_0_03']}/{sm['cells']} cells within 0.03 nats of bmi's mean, "
        f"{sm['within_2se']}/{sm['cells']} within 2 SE (jaxmi's over its "
        f"{3 * st['keys_per_seed']} estimates and bmi's over its 3). {sm['seconds'] / 60:.0f} min.",
    ]
    return "\n".join(lines)


def attribution_quality_table(path: Path) -> str:
    d = json.loads(path.read_text())
    lines = [
        f"{_device(d)}{' (quick run)' if d.get('quick') else ''}. "
        "AUCs: mean over images of the target-probability curve area (trapezoid over the "
        "fraction of pixels); ↓ lower is better, ↑ higher is better; bold = best in the column; "
        "† = the metric's substrate is the method's own in-fill (favoured, spec §5.7).",
    ]
    own = {"zero": ("(zero)",), "mean": ("(mean)",)}
    for name, ds in d["datasets"].items():
        rows = ds["rows"]
        loc = "pointing" in rows[0]
        cols = [
            ("deletion_zero", "del zero ↓", min),
            ("insertion_zero", "ins zero ↑", max),
            ("deletion_mean", "del mean img ↓", min),
            ("insertion_mean", "ins mean img ↑", max),
        ]
        if loc:
            cols += [
                ("pointing", "pointing ↑", max),
                ("top_n_in_mask", "top-n in mask ↑", max),
                ("ehr", "EHR ↑", max),
            ]
        best = {c: pick(r[c] for r in rows) for c, _, pick in cols}
        shape = "×".join(str(v) for v in ds["image_shape"])
        lines += [
            "",
            f"**{name}** ({shape}, {ds['n_classes']} classes; CNN test accuracy "
            f"{ds['test_accuracy']:.3f} after {ds['epochs']} epochs on {ds['n_train']} images; "
            f"{ds['n_eval']} test images explained for their true label; window {ds['window']}, "
            f"stride 1, N = {ds['n_samples']}; {ds['pixels_per_step']} pixel(s) per step)",
            "",
            "| method | " + " | ".join(h for _, h, _ in cols) + " | ms/image |",
            "|---|" + "---|" * (len(cols) + 1),
        ]
        for r in rows:
            cells = []
            for c, _, _ in cols:
                v = f"{r[c]:.3f}"
                sub = c.split("_")[-1] if c.startswith(("deletion", "insertion")) else None
                if sub and any(r["method"].endswith(t) for t in own[sub]):
                    v += "†"
                cells.append(f"**{v}**" if r[c] == best[c] else v)
            lines.append(
                f"| {r['method']} | " + " | ".join(cells) + f" | {1e3 * r['s_per_image']:.0f} |"
            )
        winners = []
        for c, h, _ in cols[:4]:
            w = [r["method"] for r in rows if r[c] == best[c]]
            winners.append(f"{h.split(' ↓')[0].split(' ↑')[0]}: {', '.join(w)}")
        lines += ["", "Best per substrate — " + "; ".join(winners) + "."]
    return "\n".join(lines)


def attribution_throughput_table(path: Path) -> str:
    d = json.loads(path.read_text())
    dev = d["device"]
    lines = [
        f"Device: {dev['backend']} ({dev.get('processor', '?')}, {dev['cpu_count']} cores, load "
        f"{dev.get('load_average', '?')}), jax {d['versions']['jax']}. Steady state; raw = the "
        "jitted predict_fn on batches of the sweep's batch size.",
        "",
        "| images | sampler | B | windows | N | passes | raw passes/s | it_maps passes/s | ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in d["rows"]:
        ratio = f"{r['ratio']:.2f}" if r["ratio"] >= 0.8 else f"**{r['ratio']:.2f}**"
        lines.append(
            f"| {r['config']} | {r['sampler']} | {r['images']} | {r['windows']} "
            f"| {r['n_samples']} | {r['forward_passes']} | {r['raw_images_per_s']:.0f} "
            f"| {r['it_maps_passes_per_s']:.0f} | {ratio} |"
        )
    met = "met" if d["target_met"] else "NOT met"
    lines += ["", f"Target: {d['target']} ({met}; bold: below)."]
    return "\n".join(lines)


def attribution_it_maps_table(path: Path) -> str:
    d = json.loads(path.read_text())
    lines = [
        f"{_device(d)}; learned sampler: {d['learned_steps']} Adam steps.",
    ]
    if "digits" in d:
        g = d["digits"]
        proto = g["prototype"]
        lines += [
            "",
            f"**digits**: CNN test accuracy {g['test_accuracy']:.3f} (prototype "
            f"{proto['test_accuracy']:.3f}), trained in {g['train_s']:.1f} s (prototype "
            f"{proto['train_s']:.1f} s); 100 test images, window 2, stride 1, N = 8.",
            "",
            "| sampler | ms/image | prototype ms/image | fit s | in-fill abs error |",
            "|---|---|---|---|---|",
        ]
        for r in g["rows"]:
            occ = r["sampler"].startswith("occlusion")
            ref = proto["occ"] if occ else proto["pmi_s_per_image"]
            fit = "" if r.get("fit_s") is None else f"{r['fit_s']:.1f}"
            err = "" if r.get("infill_abs_error") is None else f"{r['infill_abs_error']:.3f}"
            lines.append(
                f"| {r['sampler']} | {r['s_per_image'] * 1e3:.1f} | {ref * 1e3:.0f} "
                f"| {fit} | {err} |"
            )
    if "localisation" in d:
        g = d["localisation"]
        lines += [
            "",
            f"**localisation** (synthetic 16x16, window 3, N = 8, 50 test images; CNN test "
            f"accuracy {g['test_accuracy']:.3f}; chance = footprint share {g['chance']:.3f})",
            "",
            "| sampler | pointing PMI | pointing IG | positive PMI mass in the object |",
            "|---|---|---|---|",
        ]
        for r in g["rows"]:
            lines.append(
                f"| {r['sampler']} | {r['pointing_pmi']:.3f} | {r['pointing_ig']:.3f} "
                f"| {r['positive_pmi_share_in_mask']:.3f} |"
            )
    return "\n".join(lines)


def neural_warnings_table(path: Path) -> str:
    d = json.loads(path.read_text())
    st = d["settings"]

    def rng(v):
        return f"{v[0]:.3g}-{v[1]:.3g}" if v else "–"

    lines = [
        f"{_device(d)}; N={st['n']}, bounds {', '.join(st['bounds'])}, {st['seeds']} seeds each "
        f"(key {st['key']}), at most {st['max_steps']} steps; pairing sd on the first "
        f"{st['probe_rows']} rows, read where mi <= {st['gate']} nats (dead below "
        f"{st['dead_below']:g}, diverged above {st['diverged_above']:g}).",
        "",
        "| setting | data (truth) | seeds | NaN | mi <= gate | named below zero | dead "
        "| diverged | collapsed | **unnamed** (their pairing sd) | pairing sd of those <= gate "
        "| s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in d["summary"]:
        un = ", ".join(f"{v:.2g}" for v in r["unnamed_sd"] if v is not None)
        lines.append(
            f"| {r['setting']} | {r['data']} ({r['true_mi']:.3f}) | {r['seeds']} | {r['nan']} "
            f"| {r['gated']} | {r['below_zero']} | {r['dead']} | {r['diverged']} "
            f"| {r['collapsed']} | **{r['unnamed']}**{f' ({un})' if un else ''} "
            f"| {rng(r['gated_sd_range'])} | {r['seconds']:.0f} |"
        )
    lines += ["", f"{d['seconds'] / 60:.0f} min."]
    return "\n".join(lines)


def neural_marginals_table(path: Path) -> str:
    d = json.loads(path.read_text())
    st = d["settings"]
    lines = [
        f"{_device(d)}; N = {st['n']}, {st['seeds']} seeds, {st['max_steps']} steps at most, "
        "`neural_mi` defaults but `marginals`. Per bound: the median of the finite estimates, "
        "the number that are not finite, and the seeds a warning named.",
        "",
        "| data | truth | marginals | " + " | ".join(st["bounds"]) + " |",
        "|---|---|---|" + "---|" * len(st["bounds"]),
    ]
    groups: dict = {}
    for r in d["rows"]:
        groups.setdefault((r["data"], r["marginals"]), []).append(r)
    for (data, marginals), rs in groups.items():
        by = {r["bound"]: r for r in rs}
        cells = []
        for b in st["bounds"]:
            r = by[b]
            med = "–" if r["median"] is None else f"{r['median']:+.3f}"
            bad = f", {r['not_finite']} NaN" if r["not_finite"] else ""
            cells.append(f"{med}{bad}, warned {r['seeds_warned']}")
        lines.append(
            f"| {data} | {rs[0]['truth']:.3f} | `{marginals}` | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def gmm_mi_large_n_table(path: Path) -> str:
    d = json.loads(path.read_text())
    lines = [
        f"{_device(d)}; one process per row, two estimates with key 0 (the first compiles, from "
        "an empty cache); peak resident memory of the process.",
        "",
        "| case | N | settings | MI ± std (nats) | truth | K* | first s | steady s | peak GB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in d["rows"]:
        head = f"| {r['case']} | {r['n']:,} | {r['setting']} "
        if "error" in r:
            lines.append(head + f"| failed: {' '.join(r['error'])} | | | | | |")
            continue
        truth = "–" if r["truth"] is None else f"{r['truth']:.4f}"
        warned = " (warned)" if r["warnings"] else ""
        lines.append(
            head + f"| {r['mi']:.4f} ± {r['std']:.4f}{warned} | {truth} | {r['k']} "
            f"| {r['first_s']:.1f} | {r['steady_s']:.1f} | {r['peak_rss_gb']:.2f} |"
        )
    return "\n".join(lines)


SECTIONS = {
    "attribution_throughput": (attribution_throughput_table, "attribution_throughput.json"),
    "gmm_em": (gmm_em_table, "gmm_em.json"),
    "gmm_mi_speed": (gmm_mi_speed_table, "gmm_mi_speed.json"),
    "gmm_mi_accuracy": (gmm_mi_accuracy_table, "gmm_mi_accuracy.json"),
    "gmm_mi_accuracy_reference": (gmm_mi_accuracy_table, "gmm_mi_accuracy_reference.json"),
    "gmm_mi_accuracy_mixtures": (gmm_mi_accuracy_table, "gmm_mi_accuracy_mixtures.json"),
    "gmm_mi_accuracy_normal_scores": (
        gmm_mi_accuracy_table,
        "normal_scores/gmm_mi_accuracy.json",
    ),
    "gmm_mi_accuracy_tasks": (gmm_mi_accuracy_tasks_table, "gmm_mi_accuracy_tasks.json"),
    "gmm_mi_accuracy_tasks_normal_scores": (
        gmm_mi_accuracy_tasks_table,
        "normal_scores/gmm_mi_accuracy_tasks.json",
    ),
    "gmm_mi_integral": (gmm_mi_integral_table, "gmm_mi_integral.json"),
    "gmm_mi_categorical_integral": (
        gmm_mi_categorical_integral_table,
        "gmm_mi_categorical_integral.json",
    ),
    "gmm_kl_integral": (gmm_kl_integral_table, "gmm_kl_integral.json"),
    "gmm_mi_bootstrap_bias": (gmm_mi_bootstrap_bias_table, "gmm_mi_bootstrap_bias.json"),
    "gmm_mi_marginals": (gmm_mi_marginals_table, "gmm_mi_marginals.json"),
    "gmm_mi_pairwise": (gmm_mi_pairwise_table, "gmm_mi_pairwise.json"),
    "gmm_mi_large_n": (gmm_mi_large_n_table, "gmm_mi_large_n.json"),
    "neural_staircase": (neural_staircase_table, "neural_staircase.json"),
    "neural_bmi": (neural_bmi_table, "neural_bmi.json"),
    "neural_bmi_spread": (neural_bmi_spread_table, "neural_bmi_spread.json"),
    "neural_warnings": (neural_warnings_table, "neural_warnings.json"),
    "neural_marginals": (neural_marginals_table, "neural_marginals.json"),
    "attribution_quality": (attribution_quality_table, "attribution_quality.json"),
    "attribution_it_maps": (attribution_it_maps_table, "attribution_it_maps.json"),
}


def main() -> None:
    readme = HERE / "README.md"
    text = readme.read_text()
    for name, (fn, fname) in SECTIONS.items():
        path = HERE / "results" / fname
        if not path.exists():
            continue
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        block = f"{start}\n{fn(path)}\n{end}"
        text = re.sub(
            re.escape(start) + ".*?" + re.escape(end), lambda _m, b=block: b, text, flags=re.S
        )
    readme.write_text(text)


if __name__ == "__main__":
    main()
