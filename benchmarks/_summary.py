"""Regenerate the results table in benchmarks/README.md from benchmarks/results/*.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

HERE = Path(__file__).parent
START, END = "<!-- gmm_em:start -->", "<!-- gmm_em:end -->"


def gmm_em_table(path: Path) -> str:
    d = json.loads(path.read_text())
    dev = d["device"]
    lines = [
        f"Device: {dev['backend']} ({dev['processor']}, {dev['cpu_count']} cores), "
        f"jax {d['versions']['jax']}, scikit-learn {d['versions']['sklearn']}; "
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


def main() -> None:
    readme = HERE / "README.md"
    text = readme.read_text()
    table = gmm_em_table(HERE / "results" / "gmm_em.json")
    text = re.sub(
        re.escape(START) + ".*?" + re.escape(END), f"{START}\n{table}\n{END}", text, flags=re.S
    )
    readme.write_text(text)


if __name__ == "__main__":
    main()
