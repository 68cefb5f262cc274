"""The world-simulation benchmark: judge generated videos from their pixels alone.

    result = evaluate_video(frames, fps, "a red ball bouncing and a blue square falling")
    result["attributes"]["motion"]["pass"]          # True / False / None (not judged)
    report = evaluate_index("bench/")               # DIR/index.jsonl, truth or prompts
    print(format_table(report["summary"]))

Modules: detect (palette pixels -> blobs with soft coverage), tracks (linking, shape, size,
persistence), motion (trajectory models, motion class, physics residual), metrics
(per-video judgements), report (index runs, aggregate rates), selftest (agreement with
world ground truth), cli (`tenku eval`).
"""

from tenku.eval.detect import PALETTE, DetectConfig, detect_video
from tenku.eval.metrics import (
    ATTRIBUTES,
    EvalConfig,
    Expected,
    ExpectedObject,
    evaluate_video,
    expected_from_prompt,
    expected_from_truth,
)
from tenku.eval.motion import MotionConfig, classify_motion
from tenku.eval.report import evaluate_index, format_table, summarize
from tenku.eval.selftest import run_selftest

__all__ = [
    "ATTRIBUTES",
    "DetectConfig",
    "EvalConfig",
    "Expected",
    "ExpectedObject",
    "MotionConfig",
    "PALETTE",
    "classify_motion",
    "detect_video",
    "evaluate_index",
    "evaluate_video",
    "expected_from_prompt",
    "expected_from_truth",
    "format_table",
    "run_selftest",
    "summarize",
]
