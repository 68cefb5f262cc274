"""Anti-aliased rasterisation of scenes, with per-frame ground truth.

Coverage is the box-filtered area of a pixel inside a shape, approximated from the signed
distance in pixels, coverage = clip(0.5 - sdf, 0, 1) (exact for straight edges; the square
is computed exactly and separably). Objects are composited front to back:
pixel = sum_i c_i a_i prod_{j nearer} (1 - a_j) + background * prod_j (1 - a_j), so the
weight of object i summed over the frame, divided by its unclipped unoccluded coverage,
is its visible fraction. Each object is rasterised for all frames at once, over the
block of pixels it touches during the clip; a 64x64, 33-frame, 3-object clip takes ~5 ms.

Pixel (row i, column j) covers [j, j+1] x [i, i+1]; its centre is (j + 0.5, i + 0.5).
A frame-unit position p maps to p * (W, H) pixels. The camera pans across the backdrop
at CAMERA_SPEED * min(W, H) px/s: "panning left" moves the view left, so the backdrop
slides right across the frame. Objects ignore the camera (frame coordinates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tenku.world.physics import trajectory
from tenku.world.scene import BACKGROUNDS, COLORS, SHAPE_EXTENTS, Scene

MIN_SIDE, MAX_SIDE, SIDE_STEP = 32, 256, 8
CAMERA_SPEED = 0.3  # min(W, H) per second: 2.4 px per frame at 64 px and 8 fps
CHECKER_CELLS = 4  # checker squares across min(W, H)
STRIPE_CELLS = 4  # stripes across min(W, H)
_SIN60 = math.sqrt(3) / 2
# Outward edge normals of the upward-pointing triangle in image coordinates (y down).
_TRIANGLE_NORMALS = ((0.0, 1.0), (_SIN60, -0.5), (-_SIN60, -0.5))


@dataclass(frozen=True)
class ObjectTruth:
    """Ground truth of one object over T frames, in pixels."""

    center: np.ndarray  # (T, 2) [x, y] px, area centroid
    velocity: np.ndarray  # (T, 2) [vx, vy] px/s
    radius: float  # half-extent px (circle radius, half the square's side)
    visible: np.ndarray  # (T,) fraction of the object's area visible in the frame, 0..1


@dataclass(frozen=True)
class Truth:
    """Per-frame ground truth of a render; `objects` follows `scene.objects` order."""

    scene: Scene
    width: int
    height: int
    fps: float
    times: np.ndarray  # (T,) seconds
    camera_offset: np.ndarray  # (T, 2) px: position of the view on the backdrop
    objects: tuple[ObjectTruth, ...]


@dataclass(frozen=True)
class Render:
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    truth: Truth


def check_size(width: int, height: int) -> None:
    """Raise ValueError unless width and height are multiples of 8 in 32..256."""
    allowed = range(MIN_SIDE, MAX_SIDE + 1, SIDE_STEP)
    for name, value in (("width", width), ("height", height)):
        if not isinstance(value, (int, np.integer)) or value not in allowed:
            raise ValueError(f"{name} must be a multiple of {SIDE_STEP} from {MIN_SIDE} to {MAX_SIDE}, got {value!r}")


def render(scene: Scene, width: int, height: int, num_frames: int, fps: float) -> Render:
    """Render `num_frames` frames at times k / fps, k = 0..num_frames-1."""
    check_size(width, height)
    if not isinstance(num_frames, (int, np.integer)) or num_frames < 1:
        raise ValueError(f"num_frames must be an integer >= 1, got {num_frames!r}")
    if not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"fps must be a finite number > 0, got {fps!r}")
    width, height, num_frames, fps = int(width), int(height), int(num_frames), float(fps)
    times = np.arange(num_frames) / fps  # (T,)
    side = min(width, height)
    dx_grid = np.arange(width, dtype=np.float32) + 0.5  # (W,) pixel centres
    dy_grid = np.arange(height, dtype=np.float32) + 0.5  # (H,)

    # Channels first: per-channel updates of (T, H, W) planes are far faster in numpy
    # than broadcasting over a trailing axis of 3.
    image = np.zeros((3, num_frames, height, width), dtype=np.float32)
    transmittance = np.ones((num_frames, height, width), dtype=np.float32)
    truths: dict[int, ObjectTruth] = {}
    for index in sorted(range(len(scene.objects)), key=lambda i: scene.objects[i].depth):  # near to far
        obj = scene.objects[index]
        position, velocity = trajectory(obj, times, width, height)  # (T, 2) frame units
        center = position * (width, height)  # (T, 2) px
        radius = obj.half_extent * side
        # Only the block of pixels the object touches during the clip can change.
        reach = max(SHAPE_EXTENTS[obj.shape]) * radius + 1.5
        x0, x1 = _span(center[:, 0], reach, width)
        y0, y1 = _span(center[:, 1], reach, height)
        visible = np.zeros(num_frames)
        if x0 < x1 and y0 < y1:
            cx = center[:, 0].astype(np.float32)[:, None, None]  # (T, 1, 1)
            cy = center[:, 1].astype(np.float32)[:, None, None]
            dx = dx_grid[None, None, x0:x1] - cx  # (T, 1, w)
            dy = dy_grid[None, y0:y1, None] - cy  # (T, h, 1)
            alpha = coverage(obj.shape, dx, dy, radius)  # (T, h, w)
            block = transmittance[:, y0:y1, x0:x1]  # a view
            weight = alpha * block  # what of this object reaches the eye
            for channel, value in enumerate(COLORS[obj.color]):
                image[channel, :, y0:y1, x0:x1] += weight * np.float32(value)
            block -= weight  # = transmittance * (1 - alpha)
            visible = weight.sum(axis=(1, 2), dtype=np.float64) / _full_coverage(obj.shape, center, radius)
        truths[index] = ObjectTruth(
            center=center,
            velocity=velocity * (width, height),
            radius=float(radius),
            visible=np.clip(np.round(visible, 6), 0.0, 1.0),
        )
    camera_offset = _camera_offset(scene.camera, times, side)  # (T, 2)
    background = backdrop(scene, width, height, camera_offset[:, 0])  # (3, T or 1, H or 1, W or 1)
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    for channel in range(3):
        plane = image[channel] + transmittance * background[channel]  # (T, H, W)
        # Values are in [0, 255]; +0.5 and truncation rounds to nearest.
        frames[..., channel] = (plane + 0.5).astype(np.uint8)
    truth = Truth(
        scene=scene,
        width=width,
        height=height,
        fps=float(fps),
        times=times,
        camera_offset=camera_offset,
        objects=tuple(truths[i] for i in range(len(scene.objects))),
    )
    return Render(frames=frames, truth=truth)


def coverage(shape: str, dx: np.ndarray, dy: np.ndarray, radius: float) -> np.ndarray:
    """Fraction of each pixel inside a shape; dx (..., 1, W), dy (..., H, 1) are pixel
    centres minus the shape's centre in px. Returns (..., H, W) in [0, 1]."""
    if shape == "square":
        # Exact box-filtered area, separable: overlap of [u - 1/2, u + 1/2] with [-r, r].
        cover_x = np.clip(radius + 0.5 - np.abs(dx), 0.0, 1.0)
        cover_y = np.clip(radius + 0.5 - np.abs(dy), 0.0, 1.0)
        return cover_x * cover_y
    if shape == "circle":
        distance = np.sqrt(dx * dx + dy * dy)  # sdf = distance - radius
        alpha = np.subtract(np.float32(radius + 0.5), distance, out=distance)
    elif shape == "triangle":
        # Max of the three edge distances: exact along edges, slightly blunt at tips.
        inradius = SHAPE_EXTENTS["triangle"][2] * radius / 2
        edges = [nx * dx + ny * dy for nx, ny in _TRIANGLE_NORMALS]
        sdf = np.maximum(np.maximum(edges[0], edges[1]), edges[2])
        alpha = np.subtract(np.float32(inradius + 0.5), sdf, out=sdf)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return np.clip(alpha, 0.0, 1.0, out=alpha)


def _span(centers: np.ndarray, reach: float, limit: int) -> tuple[int, int]:
    """Pixel range [start, stop) within [0, limit) covering centers +- reach."""
    start = int(np.clip(np.floor(centers.min() - reach), 0, limit))
    stop = int(np.clip(np.ceil(centers.max() + reach), 0, limit))
    return start, stop


def _full_coverage(shape: str, center: np.ndarray, radius: float) -> np.ndarray:
    """Summed coverage (T,) of the shape with nothing clipping or hiding it, on the same
    pixel lattice as the frame, so a fully visible object has visible fraction 1."""
    half = math.ceil(max(SHAPE_EXTENTS[shape]) * radius) + 2
    offsets = np.arange(-half, half + 1, dtype=np.float64)  # (K,)
    xs = np.floor(center[:, 0])[:, None] + offsets + 0.5 - center[:, 0][:, None]  # (T, K)
    ys = np.floor(center[:, 1])[:, None] + offsets + 0.5 - center[:, 1][:, None]
    alpha = coverage(shape, xs[:, None, :].astype(np.float32), ys[:, :, None].astype(np.float32), radius)
    return alpha.sum(axis=(1, 2), dtype=np.float64)  # (T,)


def _camera_offset(camera: str, times: np.ndarray, side: int) -> np.ndarray:
    direction = {"static": 0.0, "panning left": -1.0, "panning right": 1.0}[camera]
    offset = np.zeros((len(times), 2))
    offset[:, 0] = direction * CAMERA_SPEED * side * times
    return offset  # (T, 2) px


def backdrop(scene: Scene, width: int, height: int, camera_x: np.ndarray) -> np.ndarray:
    """Background (3, T or 1, H or 1, W or 1) float32 seen by a camera at `camera_x` (T,) px."""
    tones = np.asarray(BACKGROUNDS[scene.background], dtype=np.float32)  # (tones, 3)
    if len(tones) == 1:
        return tones[0][:, None, None, None]  # (3, 1, 1, 1)
    side = min(width, height)
    cells = CHECKER_CELLS if scene.background == "checkered" else STRIPE_CELLS
    cell = side / cells  # px
    shift_x, shift_y = scene.backdrop_offset[0] * cell, scene.backdrop_offset[1] * cell
    if not np.any(camera_x):
        camera_x = camera_x[:1]  # a static view is the same every frame
    bx = np.arange(width) + 0.5 + shift_x + camera_x[:, None]  # (T, W) backdrop coordinates
    wave = _square_wave(bx, cell).astype(np.float32)[:, None, :]  # (T, 1, W)
    if scene.background == "checkered":
        by = np.arange(height) + 0.5 + shift_y  # (H,)
        wave = wave * _square_wave(by, cell).astype(np.float32)[None, :, None]  # (T, H, W)
    mix = (wave + 1.0) * 0.5  # (T, H or 1, W) in [0, 1]
    out = np.empty((3, *mix.shape), dtype=np.float32)
    for channel in range(3):  # per channel: numpy broadcasts over a leading 3 slowly
        np.multiply(mix, tones[1, channel] - tones[0, channel], out=out[channel])
        out[channel] += tones[0, channel]
    return out


def _square_wave(u: np.ndarray, cell: float) -> np.ndarray:
    """A soft +-1 wave of half-period `cell`: a sinusoid. Textures are kept band-limited on purpose:
    a pan across them is plainly visible, while hard two-tone edges at every cell would spend most
    of the video model's capacity (and the VAE's) on backdrop detail instead of the objects."""
    return np.sin(np.pi * u / cell)


def truth_to_json(truth: Truth, decimals: int = 3) -> dict:
    """A JSON-serialisable dict of the ground truth (floats rounded to `decimals`)."""
    scene = truth.scene

    def rounded(array):
        return np.round(np.asarray(array, dtype=np.float64), decimals).tolist()

    return {
        "size": [truth.width, truth.height],
        "fps": truth.fps,
        "frames": len(truth.times),
        "background": scene.background,
        "camera": scene.camera,
        "camera_offset": rounded(truth.camera_offset),
        "seed": scene.seed,
        "split": scene.split,
        "objects": [
            {
                "color": obj.color,
                "shape": obj.shape,
                "size": obj.size,
                "motion": obj.motion,
                "depth": obj.depth,
                "rgb": list(COLORS[obj.color]),
                "radius": round(gt.radius, decimals),
                "track": rounded(gt.center),
                "velocity": rounded(gt.velocity),
                "visible": rounded(gt.visible),
            }
            for obj, gt in zip(scene.objects, truth.objects)
        ],
    }
