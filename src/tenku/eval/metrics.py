"""Per-video metrics: what was asked for against what the pixels show.

`evaluate_video(frames, fps, expected)` detects and tracks objects (detect.py, tracks.py),
classifies each track's shape, size and motion (motion.py) and judges eight attributes:

- color: every asked colour is present and no unasked palette-coloured object is;
- shape, size, motion: per asked object, matched by colour;
- count: the number of objects (tracks present in a meaningful fraction of frames);
- persistence: no object vanishes or appears without the frame edge or a nearer object
  to explain it, and none jumps;
- physics: each track is explained by its motion's physical model to within a residual;
- flicker: the background's global brightness has no temporal jitter (mean |second
  temporal difference| of its mean luma, in 8-bit levels; lower is better).

Each attribute is {"pass": True | False | None (not judged), ...details}. `expected` comes from
a prompt (`expected_from_prompt`) or from world ground truth (`expected_from_truth`), where
objects the reference itself barely shows (hidden behind a nearer object, say) are optional.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from tenku.eval.detect import COLOR_NAMES, DetectConfig, classify_pixels, detect_frame
from tenku.eval.motion import MotionConfig, classify_motion
from tenku.eval.tracks import Track, fill_gaps, link_tracks, persistence_events

ATTRIBUTES: tuple[str, ...] = ("color", "shape", "size", "count", "motion", "persistence", "physics", "flicker")


@dataclass(frozen=True, kw_only=True)
class ExpectedObject:
    """One object a video should show; None attributes are not judged."""

    color: str | None = None
    shape: str | None = None
    size: str | None = None
    motion: str | None = None
    required: bool = True
    """False: allowed but not required (the reference barely shows it)."""


@dataclass(frozen=True, kw_only=True)
class Expected:
    objects: tuple[ExpectedObject, ...]

    def __post_init__(self) -> None:
        for obj in self.objects:
            if obj.color is not None and obj.color not in COLOR_NAMES:
                raise ValueError(f"unknown colour {obj.color!r}; allowed: {', '.join(COLOR_NAMES)}")


@dataclass(frozen=True, kw_only=True)
class EvalConfig:
    detect: DetectConfig = field(default_factory=DetectConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)
    min_track_fraction: float = 0.1
    """A track is an object when seen in at least this fraction of frames (and 2 frames)."""
    min_shape_consistency: float = 0.6
    """A shape passes only if at least this fraction of single views agree with it (an object
    that morphs from circle to square half-way fails even if one shape wins on average)."""
    flicker_threshold: float = 2.0
    """Largest acceptable flicker, in 8-bit luma levels (clean renders, panning textures and
    H.264 included, stay below 0.6; a +-12 level brightness jitter scores above 4)."""

    def __post_init__(self) -> None:
        if not 0 < self.min_track_fraction <= 1:
            raise ValueError(f"min_track_fraction must be in (0, 1], got {self.min_track_fraction}")
        if not 0 <= self.min_shape_consistency <= 1:
            raise ValueError(f"min_shape_consistency must be in [0, 1], got {self.min_shape_consistency}")
        if not self.flicker_threshold > 0:
            raise ValueError(f"flicker_threshold must be > 0, got {self.flicker_threshold}")


def expected_from_prompt(text: str) -> Expected:
    """What a prompt asks for, via the world's prompt parser."""
    from tenku.world import parse_prompt

    spec = parse_prompt(text)
    return Expected(
        objects=tuple(ExpectedObject(color=o.color, shape=o.shape, size=o.size, motion=o.motion) for o in spec.objects)
    )


def expected_from_truth(objects: list[dict], min_visible_frames: int = 3) -> Expected:
    """Expectation from world ground truth (`truth_to_json(...)["objects"]`).

    An object is required when it is at least half visible in `min_visible_frames` frames
    (or in every frame of a shorter clip); its shape and size are judged when it is fully
    visible in some frame, its motion when it is fully visible in 3 frames."""
    out = []
    for obj in objects:
        visible = np.asarray(obj.get("visible", [1.0]), dtype=np.float64)
        full = int((visible >= 0.95).sum())
        required = int((visible >= 0.5).sum()) >= min(min_visible_frames, len(visible))
        out.append(
            ExpectedObject(
                color=obj["color"],
                shape=obj.get("shape") if full >= 1 else None,
                size=obj.get("size") if full >= 1 else None,
                motion=obj.get("motion") if full >= 3 else None,
                required=required,
            )
        )
    return Expected(objects=tuple(out))


def as_expected(expected) -> Expected:
    """Accept an Expected, a prompt string, a parsed prompt (objects with color/shape/size/
    motion attributes) or a list of ground-truth object dicts."""
    if isinstance(expected, Expected):
        return expected
    if isinstance(expected, str):
        return expected_from_prompt(expected)
    if isinstance(expected, (list, tuple)) and all(isinstance(o, dict) for o in expected):
        return expected_from_truth(list(expected))
    if hasattr(expected, "objects"):
        return Expected(
            objects=tuple(
                ExpectedObject(
                    color=getattr(o, "color", None),
                    shape=getattr(o, "shape", None),
                    size=getattr(o, "size", None),
                    motion=getattr(o, "motion", None),
                )
                for o in expected.objects
            )
        )
    raise ValueError(f"expected must be Expected, a prompt, a parsed prompt or truth objects, got {type(expected)}")


def flicker(frames: np.ndarray, objects: np.ndarray) -> float:
    """Mean |L(t+1) - 2 L(t) + L(t-1)| of the backdrop's brightness L, in 8-bit levels.

    L(t) is the mean of the 10th and 90th percentiles of luma over the pixels away from
    objects (`objects` (T, H, W) marks pixels on or around them): for a plain backdrop its
    colour, for a two-tone texture the middle of its tones, which a pan does not change
    however much of either tone is in view. Brightness that jumps from frame to frame does."""
    num_frames = len(frames)
    if num_frames < 3:
        return 0.0
    luma = frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # (T, H, W)
    levels = np.full(num_frames, np.nan)
    for t in range(num_frames):
        background = luma[t][~objects[t]]
        if background.size >= 16:
            levels[t] = np.percentile(background, [10, 90]).mean()
    second = np.abs(levels[2:] - 2 * levels[1:-1] + levels[:-2])  # (T-2,), nan where unmeasured
    return float(np.nanmean(second)) if np.isfinite(second).any() else 0.0


def _object_mask(blobs: list[list], shape: tuple[int, int, int]) -> np.ndarray:
    """(T, H, W) True inside every blob's coverage window (its box plus a 5 px margin)."""
    mask = np.zeros(shape, dtype=bool)
    for frame_blobs in blobs:
        for blob in frame_blobs:
            x0, y0 = blob.origin
            h, w = blob.coverage.shape
            mask[blob.frame, y0 : y0 + h, x0 : x0 + w] = True
    return mask


def _match(tracks: list[Track], expected: Expected) -> dict[int, Track]:
    """Expected object index -> track: by colour; objects without a colour take a leftover
    track with the same shape when there is one, else any leftover track."""
    matched: dict[int, Track] = {}
    by_color: dict[str, list[Track]] = {}
    for track in tracks:
        by_color.setdefault(track.color, []).append(track)
    used: set[int] = set()
    for i, obj in enumerate(expected.objects):
        if obj.color is not None and obj.color in by_color:
            track = max(by_color[obj.color], key=lambda tr: len(tr.blobs))
            matched[i] = track
            used.add(id(track))
    for i, obj in enumerate(expected.objects):
        if obj.color is None:
            free = [tr for tr in tracks if id(tr) not in used]
            if not free:
                continue
            same = [tr for tr in free if obj.shape is None or tr.shape().shape == obj.shape]
            track = max(same or free, key=lambda tr: len(tr.blobs))
            matched[i] = track
            used.add(id(track))
    return matched


def _verdict(values: list[bool | None]) -> bool | None:
    judged = [v for v in values if v is not None]
    return all(judged) if judged else None


def evaluate_video(frames: np.ndarray, fps: float, expected, config: EvalConfig | None = None) -> dict:
    """Judge one (T, H, W, 3) uint8 video against `expected` (see `as_expected`).

    Returns {"attributes": {name: {"pass": bool | None, ...}}, "objects": [...], "matched":
    {expected index: object index}, "flicker": float, "size": [W, H], "num_frames": T, "fps"};
    JSON-serialisable."""
    config = config or EvalConfig()
    expected = as_expected(expected)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    num_frames, height, width, _ = frames.shape
    labels = classify_pixels(frames, config.detect.color_tolerance)  # (T, H, W)
    blobs = [detect_frame(frame, labels[t], t, config.detect) for t, frame in enumerate(frames)]
    min_frames = min(max(2, math.ceil(config.min_track_fraction * num_frames)), num_frames)
    tracks = link_tracks(blobs, (width, height))
    for track in tracks:
        fill_gaps(track, frames, labels, blobs)
    tracks = [tr for tr in tracks if len(tr.blobs) >= min_frames]
    measured = [_measure(track, blobs, fps, (width, height), config) for track in tracks]
    index_of = {id(tr): i for i, tr in enumerate(tracks)}
    matched = {i: index_of[id(tr)] for i, tr in _match(tracks, expected).items()}
    attributes = _judge(measured, matched, expected, config)
    value = flicker(frames, _object_mask(blobs, labels.shape))
    attributes["flicker"] = {"pass": value <= config.flicker_threshold, "value": round(value, 3)}
    return {
        "attributes": attributes,
        "objects": measured,
        "matched": {str(i): j for i, j in matched.items()},
        "flicker": round(value, 3),
        "size": [width, height],
        "num_frames": num_frames,
        "fps": float(fps),
    }


def _measure(track: Track, blobs: list[list], fps: float, size: tuple[int, int], config: EvalConfig) -> dict:
    """What one track shows: shape, size, motion and physics residual, persistence events."""
    shape = track.shape()
    full = track.motion_blobs()
    times = np.array([b.frame for b in full], dtype=np.float64) / fps
    centers = np.array([b.center for b in full], dtype=np.float64).reshape(-1, 2)
    motion = classify_motion(times, centers, frame_size=size, extents=track.extents(), config=config.motion)
    events = persistence_events(track, len(blobs), blobs, size)
    return {
        "color": track.color,
        "shape": shape.shape,
        "shape_margin": round(shape.margin, 3),
        "shape_consistency": round(shape.consistency, 3),
        "size": track.size(shape.shape, size),
        "radius": round(track.radius(shape.shape), 2),
        "motion": motion.motion,
        "residual": round(motion.residual, 3),
        "plausible": motion.plausible,
        "motion_detail": motion.detail,
        "speed": round(motion.speed, 2),
        "frames": len(track.blobs),
        "trajectory_frames": len(full),
        "first_frame": int(track.frames[0]),
        "last_frame": int(track.frames[-1]),
        "events": [{"kind": e.kind, "frame": e.frame, "cause": e.cause} for e in events],
    }


def _judge(measured: list[dict], matched: dict[int, int], expected: Expected, config: EvalConfig) -> dict[str, dict]:
    """Per-attribute verdicts (all but flicker) of measured objects against the expectation."""
    attributes: dict[str, dict] = {}
    asked = {o.color for o in expected.objects if o.color is not None}
    missing = sorted(o.color for i, o in enumerate(expected.objects) if o.required and o.color and i not in matched)
    claimed = set(matched.values())
    extra = sorted({m["color"] for j, m in enumerate(measured) if m["color"] not in asked and j not in claimed})
    attributes["color"] = {
        "pass": None if not asked else not missing and not extra,
        "missing": missing,
        "unexpected": extra,
    }
    for name in ("shape", "size", "motion"):
        checks = []
        for i, obj in enumerate(expected.objects):
            want = getattr(obj, name)
            if want is None:
                continue
            if i not in matched:
                checks.append(
                    {"object": i, "expected": want, "measured": None, "pass": False if obj.required else None}
                )
                continue
            got = measured[matched[i]][name]
            ok = got == want
            if name == "shape":
                ok = ok and measured[matched[i]]["shape_consistency"] >= config.min_shape_consistency
            checks.append({"object": i, "expected": want, "measured": got, "pass": ok})
        attributes[name] = {"pass": _verdict([c["pass"] for c in checks]), "checks": checks}
    low, high = sum(o.required for o in expected.objects), len(expected.objects)
    attributes["count"] = {
        "pass": None if not expected.objects else low <= len(measured) <= high,
        "expected": low if low == high else [low, high],
        "measured": len(measured),
    }
    unexplained = [{"color": m["color"], **e} for m in measured for e in m["events"] if e["cause"] is None]
    attributes["persistence"] = {"pass": None if not measured else not unexplained, "unexplained": unexplained}
    judged = [m for m in measured if m["motion"] != "unknown"]
    attributes["physics"] = {
        "pass": None if not judged else all(m["plausible"] for m in judged),
        "max_residual": round(max((m["residual"] for m in judged), default=0.0), 3),
    }
    return attributes
