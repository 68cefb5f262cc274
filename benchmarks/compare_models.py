"""Paired comparison of two `dit_benchmark.py` reports: is model B better than model A, or is the
difference within what 64 prompts can tell apart?

    python benchmarks/compare_models.py A.json B.json [--draws 10000] [--out FILE.json]

A report may also be a `guidance_sweep.py --out` report of one setting (one row, which keeps its
per-prompt verdicts since session 29): it is compared as the section `tuning_64x64`, so two
models' sweeps over the same tuning prompts get a paired interval too.

Both reports score the same held-out prompts with the same seeds, so the comparison is paired: for
each section both ran (canonical, paraphrased, each aspect ratio), the prompts are resampled with
replacement (a bootstrap over prompts, `--draws` times, fixed seed) and the difference of the
five-bar means (colour, shape, direction, count, persistence; each bar's rate over the samples it
judged) is recomputed on every resample. The table gives both means, B - A, and the 95% interval
of B - A. An interval that holds 0 means the two models are not told apart by these prompts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from dit_benchmark import BARS  # noqa: E402

SECTIONS = ("canonical_64x64", "paraphrased_64x64", "canonical_112x64", "canonical_64x112", "tuning_64x64")


def as_sections(report: dict, path: str) -> dict:
    """A dit_benchmark.py report as it is; a guidance_sweep.py report of one setting as the section
    `tuning_64x64`. A sweep of several settings, or one written before sweeps kept per-prompt
    verdicts, is a ValueError naming the file."""
    if "rows" not in report:
        return report
    rows = report["rows"]
    if len(rows) != 1:
        raise ValueError(f"{path}: a guidance sweep of {len(rows)} settings; compare sweeps of one setting each")
    if "samples" not in rows[0]:
        raise ValueError(f"{path}: a guidance sweep without per-prompt verdicts (written before session 29); "
                         "run guidance_sweep.py again")
    return {"model": report.get("model"), "tuning_64x64": rows[0]}


def verdict_arrays(samples: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """(passed, judged) float arrays (prompts, bars): a verdict of None is not judged."""
    passed = np.array([[bool(s[b]) if s[b] is not None else False for b in BARS] for s in samples], dtype=np.float64)
    judged = np.array([[s[b] is not None for b in BARS] for s in samples], dtype=np.float64)
    return passed, judged


def five_bar_mean(passed: np.ndarray, judged: np.ndarray, picks: np.ndarray | None = None) -> np.ndarray:
    """Mean over the bars of each bar's pass rate; with `picks` (draws, n) index arrays, one mean per draw."""
    if picks is None:
        picks = np.arange(len(passed))[None]
    hits, counts = passed[picks].sum(1), judged[picks].sum(1)  # (draws, bars)
    rates = np.divide(hits, counts, out=np.full_like(hits, np.nan), where=counts > 0)
    return np.nanmean(rates, axis=1)


def compare_section(a: list[dict], b: list[dict], draws: int, seed: int = 0) -> dict:
    if [s["prompt"] for s in a] != [s["prompt"] for s in b]:
        raise ValueError("the two reports did not score the same prompts in the same order; "
                         "run dit_benchmark.py with the same --num for both")
    pa, ja = verdict_arrays(a)
    pb, jb = verdict_arrays(b)
    picks = np.random.default_rng(seed).integers(len(a), size=(draws, len(a)))
    diffs = five_bar_mean(pb, jb, picks) - five_bar_mean(pa, ja, picks)
    low, high = np.nanpercentile(diffs, [2.5, 97.5])
    mean_a, mean_b = float(five_bar_mean(pa, ja)[0]), float(five_bar_mean(pb, jb)[0])
    return {"prompts": len(a), "mean_a": mean_a, "mean_b": mean_b, "difference": mean_b - mean_a,
            "interval_95": [float(low), float(high)]}


def load_report(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        sys.exit(f"error: {path}: no such report")
    except json.JSONDecodeError as error:
        sys.exit(f"error: {path}: not a JSON report ({error})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="dit_benchmark.py JSON of model A (the baseline)")
    parser.add_argument("b", help="dit_benchmark.py JSON of model B")
    parser.add_argument("--draws", type=int, default=10_000)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.draws < 100:
        parser.error(f"--draws must be >= 100, got {args.draws}")
    try:
        a, b = as_sections(load_report(args.a), args.a), as_sections(load_report(args.b), args.b)
    except ValueError as error:
        sys.exit(f"error: {error}")
    sections = [s for s in SECTIONS if s in a and s in b]
    if not sections:
        sys.exit("error: the two reports share no benchmark section")
    try:
        result = {s: compare_section(a[s]["samples"], b[s]["samples"], args.draws) for s in sections}
    except (KeyError, TypeError) as error:
        sys.exit(f"error: not dit_benchmark.py reports with per-sample verdicts ({error!r} missing)")
    except ValueError as error:
        sys.exit(f"error: {error}")
    print(f"A = {a.get('model')}, B = {b.get('model')}; five-bar means, paired bootstrap over prompts "
          f"({args.draws} draws)\n")
    print("| section | prompts | A | B | B - A | 95% interval |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, r in result.items():
        low, high = r["interval_95"]
        print(f"| {name} | {r['prompts']} | {100 * r['mean_a']:.1f}% | {100 * r['mean_b']:.1f}% | "
              f"{100 * r['difference']:+.1f} | {100 * low:+.1f} to {100 * high:+.1f} |")
    if args.out:
        Path(args.out).write_text(json.dumps({"a": args.a, "b": args.b, "draws": args.draws, "sections": result},
                                             indent=2) + "\n")


if __name__ == "__main__":
    main()
