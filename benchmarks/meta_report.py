"""Tables of the meta-weighting experiments: results JSON and docs/experiments.md sections."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from docs_section import update_section
from meta_grid import ARMS, SETTINGS
from meta_stats import FOCUS, MIN_GAP_DB, summarise_setting


def collect(record: Path) -> dict[str, dict[str, dict[int, dict[str, Any]]]]:
    """``setting -> arm -> seed -> result`` of every run recorded under ``record``."""
    found: dict[str, dict[str, dict[int, dict[str, Any]]]] = {}
    for path in sorted(record.glob("*/seed*/*.json")):
        result = json.loads(path.read_text(encoding="utf-8"))
        by_arm = found.setdefault(result["setting"], {})
        by_arm.setdefault(result["arm"], {})[int(result["seed"])] = result
    return found


def _fmt(value: float | None, digits: int = 2, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _table(name: str, block: dict[str, Any], sets: list[str]) -> str:
    head = [
        "arm",
        "seeds",
        *sets,
        "Δ vs uniform (dB)",
        "95% CI",
        "gap closed",
        "weight on corrupted",
        "step time ×",
    ]
    gap = block.get("oracle_gap_db")
    note = ""
    if gap is not None:
        note = f"Uniform → oracle gap: {gap:+.3f} dB."
        if gap < MIN_GAP_DB:
            note = note[:-1] + f" (under {MIN_GAP_DB} dB: no gap to close, no share is given)."
    lines = [
        f"### {name}: {SETTINGS[name].summary}",
        "",
        *([note, ""] if note else []),
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    order = [a for a in ARMS if a in block["arms"]] + sorted(set(block["arms"]) - set(ARMS))
    for arm in order:
        row = block["arms"][arm]
        delta = row["delta_vs_uniform"]
        lo, hi = delta["ci95"]
        ci = "–" if lo is None else f"[{lo:+.3f}, {hi:+.3f}]"
        cells = [
            arm,
            ",".join(map(str, row["seeds"])),
            *(_fmt(row["psnr"].get(s)) for s in sets),
            _fmt(delta["mean"], 3, signed=True),
            ci,
            _fmt(row["gap_closed"]),
            _fmt(row["corrupt_weight_share"]),
            _fmt(row["step_time_ratio"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _head_to_head_table(blocks: dict[str, dict[str, Any]]) -> str:
    """Settings as rows, every rival arm as a column: the focus arm minus that arm."""
    rivals = [
        a
        for a in ARMS
        if a != FOCUS and any(a in b.get(f"{FOCUS}_vs", {}) for b in blocks.values())
    ]
    lines = [
        f"### `{FOCUS}` against each arm",
        "",
        f"`{FOCUS}` minus the arm, paired per seed and test image (dB; positive: `{FOCUS}` is"
        " better), with the same two-level 95% interval.",
        "",
        "| setting | " + " | ".join(rivals) + " |",
        "|---|" + "---|" * len(rivals),
    ]
    for name, block in blocks.items():
        versus = block.get(f"{FOCUS}_vs", {})
        cells = []
        for arm in rivals:
            if arm not in versus:
                cells.append("–")
                continue
            lo, hi = versus[arm]["ci95"]
            cells.append(f"{versus[arm]['mean']:+.3f} [{lo:+.3f}, {hi:+.3f}]")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _machines(found: dict[str, dict[str, dict[int, dict[str, Any]]]]) -> str:
    """Which machine trained the runs of each seed (records without the field: the CPU)."""
    by_seed: dict[int, Counter[str]] = {}
    for by_arm in found.values():
        for results in by_arm.values():
            for seed, result in results.items():
                by_seed.setdefault(seed, Counter())[result.get("trained_on", "cpu")] += 1
    return "; ".join(
        f"seed {seed}: "
        + ", ".join(
            f"{name} ({n} run{'' if n == 1 else 's'})" for name, n in sorted(counts.items())
        )
        for seed, counts in sorted(by_seed.items())
    )


def write_report(record: Path, results_path: Path, doc: Path) -> dict[str, Any]:
    """Summarise every run recorded under ``record`` into ``results_path`` and ``doc``."""
    found = collect(record)
    manifest_path = record / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    report: dict[str, Any] = {"manifest": manifest, "settings": {}}
    tables = []
    for name in [s for s in SETTINGS if s in found]:
        any_result = next(iter(next(iter(found[name].values())).values()))
        sets = list(any_result["budget"]["test_sets"])
        block = summarise_setting(found[name], sets)
        block["summary"] = SETTINGS[name].summary
        block["test_degradation"] = SETTINGS[name].target_degradation
        report["settings"][name] = block
        tables.append(_table(name, block, sets))
    results_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = results_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, results_path)
    budget = manifest.get("budget", {})
    intro = (
        f"Made by `python benchmarks/meta_experiments.py report` from the runs of commit "
        f"`{manifest.get('commit', '?')[:10]}` (warm start {budget.get('warm_steps')} steps, "
        f"arms {budget.get('steps')} steps, batch {budget.get('batch_size')} x "
        f"{budget.get('patch_size')} px). PSNR (Y, the protocol) per test set, mean over seeds;"
        " Δ is the paired per-image difference to `uniform` of the same seed, pooled over all"
        " test images, with a two-level (seeds, images) bootstrap 95% interval. Trained on: "
        + _machines(found)
        + "."
    )
    tables.append(_head_to_head_table(report["settings"]))
    update_section("meta-tables", intro + "\n\n" + "\n\n".join(tables), doc)
    return report
