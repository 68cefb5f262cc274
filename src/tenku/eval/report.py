"""Benchmark runs over many videos: an index of videos, aggregate rates, a printable table.

An index is a JSON-lines file (as written by `tenku world render`), one object per video:
`video` (path relative to the index), `caption` or `prompt`, and optionally `objects`, the
world's ground truth ({color, shape, size, motion, track, visible, radius}); ground truth,
when present, is the expectation, otherwise the prompt is parsed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from tenku.eval.metrics import ATTRIBUTES, EvalConfig, as_expected, evaluate_video, expected_from_truth


def index_path(path: str | os.PathLike) -> Path:
    """The index file named by `path`: the file itself, or DIR/index.jsonl."""
    path = Path(path)
    if path.is_dir():
        path = path / "index.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no index at {path} (expected a JSON-lines file or a directory holding index.jsonl)")
    return path


def read_index(path: str | os.PathLike) -> list[dict]:
    """Records of an index, each with `video` resolved to an absolute path."""
    path = index_path(path)
    records = []
    with open(path) as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not valid JSON ({error.msg})") from None
            if not isinstance(record, dict) or "video" not in record:
                raise ValueError(f"{path}:{number}: each line needs a 'video' field")
            if not (record.get("objects") or record.get("prompt") or record.get("caption")):
                raise ValueError(f"{path}:{number}: each line needs 'objects' ground truth or a 'prompt'/'caption'")
            record["video"] = str((path.parent / record["video"]).resolve())
            records.append(record)
    return records


def record_expectation(record: dict):
    """(expected, source): ground truth when the record has it, else its prompt."""
    if record.get("objects"):
        return expected_from_truth(record["objects"]), "truth"
    return as_expected(record.get("prompt") or record["caption"]), "prompt"


def evaluate_index(
    path: str | os.PathLike,
    *,
    config: EvalConfig | None = None,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Evaluate every video of an index; returns {"videos": [...], "summary": {...}}."""
    from tenku.io import read_video

    records = read_index(path)[:limit]
    videos = []
    for number, record in enumerate(records):
        expected, source = record_expectation(record)
        video = read_video(record["video"])
        result = evaluate_video(video.frames, video.fps, expected, config)
        videos.append(
            {
                "video": record["video"],
                "prompt": record.get("prompt") or record.get("caption"),
                "expected_from": source,
                **result,
            }
        )
        if progress is not None:
            progress(number + 1, len(records))
    return {"videos": videos, "summary": summarize(videos)}


def summarize(videos: Iterable[dict]) -> dict:
    """Per attribute: videos passed / judged and the rate; overall agreement over all judged
    (video, attribute) pairs; mean flicker and physics residual."""
    videos = list(videos)
    attributes = {}
    total_passed = total_judged = 0
    for name in ATTRIBUTES:
        verdicts = [v["attributes"][name]["pass"] for v in videos if v["attributes"][name]["pass"] is not None]
        passed = int(sum(verdicts))
        attributes[name] = {
            "passed": passed,
            "judged": len(verdicts),
            "rate": passed / len(verdicts) if verdicts else None,
        }
        total_passed += passed
        total_judged += len(verdicts)
    residuals = [
        v["attributes"]["physics"]["max_residual"] for v in videos if v["attributes"]["physics"]["pass"] is not None
    ]
    return {
        "num_videos": len(videos),
        "attributes": attributes,
        "agreement": total_passed / total_judged if total_judged else None,
        "mean_flicker": float(np.mean([v["flicker"] for v in videos])) if videos else None,
        "mean_max_residual": float(np.mean(residuals)) if residuals else None,
    }


def format_table(summary: dict, title: str = "tenku eval") -> str:
    """A plain-text table: one row per attribute with passed / judged and the rate."""
    rows = [(name, s["passed"], s["judged"], s["rate"]) for name, s in summary["attributes"].items()]
    lines = [f"{title}: {summary['num_videos']} videos", f"{'attribute':<12} {'passed':>7} {'judged':>7} {'rate':>8}"]
    lines.append("-" * len(lines[-1]))
    for name, passed, judged, rate in rows:
        shown = "-" if rate is None else f"{100 * rate:7.1f}%"
        lines.append(f"{name:<12} {passed:>7} {judged:>7} {shown:>8}")
    lines.append("-" * len(lines[1]))
    agreement = summary["agreement"]
    lines.append(f"{'all':<12} {'':>7} {'':>7} {'-' if agreement is None else f'{100 * agreement:7.1f}%':>8}")
    if summary.get("mean_flicker") is not None:
        lines.append(f"mean flicker {summary['mean_flicker']:.3f} luma levels (lower is better)")
    if summary.get("mean_max_residual") is not None:
        lines.append(f"mean physics residual {summary['mean_max_residual']:.3f} px (worst track per video)")
    return "\n".join(lines)


def failures(videos: Iterable[dict], limit: int = 20) -> list[str]:
    """One line per failed (video, attribute), for a readable summary of what went wrong."""
    lines = []
    for video in videos:
        for name, verdict in video["attributes"].items():
            if verdict["pass"] is False:
                detail = {k: v for k, v in verdict.items() if k != "pass"}
                lines.append(f"{Path(video['video']).name if video.get('video') else '?'}: {name} {json.dumps(detail)}")
    return lines[:limit]
