"""The benchmark checked against known answers: world renders judged against their own truth.

`run_selftest` renders test-split world scenes at mixed sizes (square, landscape, portrait,
32 to 128 px), durations of 1-4 s at 8 fps and 1-3 objects, sends every other clip through
an H.264 encode/decode (real inputs are compressed), evaluates each from pixels against its
ground truth, and reports the agreement: the fraction of judged (video, attribute) pairs
where the measurement matches the truth. The benchmark is trustworthy when that is >= 99%.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from tenku.eval.metrics import EvalConfig, evaluate_video, expected_from_truth
from tenku.eval.report import summarize

SELFTEST_SIZES: tuple[tuple[int, int], ...] = ((64, 64), (112, 64), (64, 112), (32, 32), (128, 96), (48, 80))
SELFTEST_FPS = 8.0
MIN_AGREEMENT = 0.99


def selftest_scenes(num: int, seed: int = 0):
    """(scene, width, height, seconds, roundtrip) for the selftest's clips, deterministically."""
    from tenku.world import sample_scene

    for i in range(num):
        width, height = SELFTEST_SIZES[i % len(SELFTEST_SIZES)]
        seconds = float(1 + (i // len(SELFTEST_SIZES)) % 4) if num > len(SELFTEST_SIZES) else float(1 + i % 4)
        scene = sample_scene(seed + i, seconds=seconds, split="test", num_objects=1 + i % 3)
        yield scene, width, height, seconds, i % 2 == 0


def run_selftest(
    num: int = 40,
    seed: int = 0,
    *,
    config: EvalConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Render, optionally round-trip through mp4, evaluate against truth; returns a report
    {"videos": [...], "summary": {...}, "coverage": {...}} like `evaluate_index`."""
    from tenku.io import read_video, write_video
    from tenku.world import num_frames_for, render, truth_to_json

    if num < 1:
        raise ValueError(f"num must be >= 1, got {num}")
    videos = []
    coverage: dict[str, Counter] = {
        "motion": Counter(),
        "background": Counter(),
        "camera": Counter(),
        "size": Counter(),
    }
    with tempfile.TemporaryDirectory(prefix="tenku-selftest-") as work:
        for i, (scene, width, height, seconds, roundtrip) in enumerate(selftest_scenes(num, seed)):
            clip = render(scene, width, height, num_frames_for(seconds, SELFTEST_FPS), SELFTEST_FPS)
            frames = clip.frames
            if roundtrip:
                path = Path(work) / f"clip{i}.mp4"
                write_video(path, frames, SELFTEST_FPS)
                frames = read_video(path).frames
            truth = truth_to_json(clip.truth)
            result = evaluate_video(frames, SELFTEST_FPS, expected_from_truth(truth["objects"]), config)
            name = f"test_{scene.seed:06d}_{width}x{height}_{seconds:g}s{'.mp4' if roundtrip else ''}"
            videos.append({"video": name, "prompt": None, "expected_from": "truth", **result})
            coverage["motion"].update(obj.motion for obj in scene.objects)
            coverage["background"][scene.background] += 1
            coverage["camera"][scene.camera] += 1
            coverage["size"][f"{width}x{height}"] += 1
            if progress is not None:
                progress(i + 1, num)
    return {
        "videos": videos,
        "summary": summarize(videos),
        "coverage": {key: dict(sorted(counter.items())) for key, counter in coverage.items()},
    }
