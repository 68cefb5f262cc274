"""Scenes of the procedural world: vocabulary, dataclasses and seeded sampling.

A `Scene` is resolution-independent. Positions are in normalised *frame* coordinates,
x in [0, 1] across the width and y in [0, 1] down the height, and velocities in those
units per second, so one scene renders identically (up to stretch) at 64x64, 112x64 or
64x112 and at any fps. Object sizes are half-extents as a fraction of min(W, H), so a
circle stays round at every aspect ratio. The camera pans across a distant backdrop:
panning moves only the backdrop; objects live in frame coordinates and ignore it.

Train and test scenes come from disjoint random streams (the generator is seeded with
(split id, seed)), so "a seed never used in training" is `split="test"`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Canonical sRGB values. Objects in one scene have distinct colours, so the pixel
# evaluator can identify every object by colour alone.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (230, 40, 40),
    "green": (40, 190, 70),
    "blue": (50, 100, 240),
    "yellow": (245, 220, 40),
    "orange": (250, 140, 30),
    "purple": (160, 70, 210),
    "cyan": (40, 210, 230),
    "white": (245, 245, 245),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
# Half-extent as a fraction of min(W, H): "small" is a 2.2 px radius at 32x32, and
# a large object still covers a few latent cells after 8x VAE compression at 64x64.
SIZES: dict[str, float] = {"small": 0.07, "medium": 0.10, "large": 0.14}
# Extent of each shape from its centre (area centroid) as multiples of the half-extent:
# (left, right, up, down). The triangle is equilateral with circumradius 1.5 (area
# 2.9 vs the circle's 3.14), pointing up, so its tip reaches further than its base.
SHAPE_EXTENTS: dict[str, tuple[float, float, float, float]] = {
    "circle": (1.0, 1.0, 1.0, 1.0),
    "square": (1.0, 1.0, 1.0, 1.0),
    "triangle": (0.75 * math.sqrt(3), 0.75 * math.sqrt(3), 1.5, 0.75),
}
MOTIONS: tuple[str, ...] = ("left", "right", "up", "down", "bouncing", "falling", "still")
LINEAR_MOTIONS: dict[str, tuple[int, int]] = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
# Backgrounds are dark and desaturated (every channel < 110) so palette colours always
# separate from them. Plain backgrounds are one colour; textured ones are two tones.
BACKGROUNDS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "black": ((15, 15, 20),),
    "dark gray": ((60, 60, 65),),
    "checkered": ((30, 30, 36), (72, 72, 80)),
    "striped": ((26, 28, 36), (66, 68, 78)),
}
TEXTURED_BACKGROUNDS: tuple[str, ...] = ("checkered", "striped")
CAMERAS: tuple[str, ...] = ("static", "panning left", "panning right")
SPLITS: dict[str, int] = {"train": 0, "test": 1}
MAX_OBJECTS = 3
OBJECT_MIX = (0.4, 0.35, 0.25)  # how often a sampled scene holds 1, 2, 3 objects

# Speeds in frame units per second. At 64 px and 8 fps a slow linear motion moves
# 1.4-1.9 px per frame, a quick one 2.6-3.6 (less if it must stay in frame: FIT_SECONDS);
# bouncing moves 2.4-3.6 px per frame along each axis.
SLOW_SPEED = (0.18, 0.24)
QUICK_SPEED = (0.32, 0.45)
BOUNCE_SPEED = (0.30, 0.45)
# Linear motions are fitted to stay fully in frame for clips up to this long.
FIT_SECONDS = 4.0


@dataclass(frozen=True, kw_only=True)
class WorldObject:
    """One object. `position` is its centre at t=0 and `velocity` its initial velocity,
    both in frame units ([0, 1] across width/height, per second); `depth` 0 is nearest."""

    color: str
    shape: str
    size: str
    motion: str
    position: tuple[float, float]
    velocity: tuple[float, float]
    depth: int

    def __post_init__(self) -> None:
        _check_choice("color", self.color, COLORS)
        _check_choice("shape", self.shape, SHAPES)
        _check_choice("size", self.size, SIZES)
        _check_choice("motion", self.motion, MOTIONS)
        if self.depth < 0:
            raise ValueError(f"depth must be >= 0, got {self.depth}")

    @property
    def half_extent(self) -> float:
        """Half-extent as a fraction of min(W, H)."""
        return SIZES[self.size]

    @property
    def speed(self) -> float:
        """Initial speed in frame units per second."""
        return math.hypot(*self.velocity)


@dataclass(frozen=True, kw_only=True)
class Scene:
    """A resolution-independent scene: objects, backdrop and camera.

    `seconds` is the duration the scene was designed for (linear motions stay in frame
    that long when it is <= 4 s); it can still be rendered for any duration.
    `backdrop_offset` shifts the texture (in texture cells) so backdrops vary."""

    objects: tuple[WorldObject, ...]
    background: str
    camera: str = "static"
    seconds: float = 2.0
    backdrop_offset: tuple[float, float] = (0.0, 0.0)
    seed: int | None = None
    split: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= len(self.objects) <= MAX_OBJECTS:
            raise ValueError(f"a scene holds 1 to {MAX_OBJECTS} objects, got {len(self.objects)}")
        colors = [obj.color for obj in self.objects]
        if len(set(colors)) != len(colors):
            raise ValueError(f"objects in a scene must have distinct colours, got {colors}")
        depths = sorted(obj.depth for obj in self.objects)
        if depths != list(range(len(self.objects))):
            raise ValueError(f"depths must be a permutation of 0..{len(self.objects) - 1}, got {depths}")
        _check_choice("background", self.background, BACKGROUNDS)
        _check_choice("camera", self.camera, CAMERAS)
        if self.camera != "static" and self.background not in TEXTURED_BACKGROUNDS:
            raise ValueError(
                f"camera {self.camera!r} needs a textured background {TEXTURED_BACKGROUNDS}, "
                f"got {self.background!r} (a pan over a plain colour is invisible)"
            )
        if not self.seconds > 0:
            raise ValueError(f"seconds must be > 0, got {self.seconds}")
        if self.split is not None:
            _check_choice("split", self.split, SPLITS)


def _check_choice(what: str, value: str, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; allowed: {', '.join(allowed)}")


def num_frames_for(seconds: float, fps: float) -> int:
    """Frames in a clip of `seconds` at `fps`, counting both ends: round(seconds*fps) + 1.
    This gives the 1 + 4k frames a causal video VAE wants (2 s at 8 fps -> 17)."""
    if not (seconds >= 0 and math.isfinite(seconds)):
        raise ValueError(f"seconds must be a finite number >= 0, got {seconds}")
    if not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"fps must be a finite number > 0, got {fps}")
    return round(seconds * fps) + 1


# --- sampling ---------------------------------------------------------------------------


def scene_rng(seed: int, split: str) -> np.random.Generator:
    """The random stream of one (split, seed); streams of different splits are disjoint."""
    _check_choice("split", split, SPLITS)
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return np.random.default_rng([SPLITS[split], seed])


def sample_scene(seed: int, *, seconds: float = 2.0, split: str = "train", num_objects: int | None = None) -> Scene:
    """Sample a scene: 1-3 objects with distinct colours, a background and a camera."""
    if num_objects is not None and not 1 <= num_objects <= MAX_OBJECTS:
        raise ValueError(f"num_objects must be 1..{MAX_OBJECTS} or None, got {num_objects}")
    rng = scene_rng(seed, split)
    if num_objects is None:
        num_objects = int(rng.choice(np.arange(1, MAX_OBJECTS + 1), p=OBJECT_MIX))
    colors = [str(c) for c in rng.choice(list(COLORS), size=num_objects, replace=False)]
    specs = [(color, None, None, None) for color in colors]
    background, camera = sample_backdrop(rng)
    return build_scene(rng, specs, background=background, camera=camera, seconds=seconds, seed=seed, split=split)


def sample_backdrop(rng: np.random.Generator, background: str | None = None, camera: str | None = None) -> tuple[str, str]:
    """Sample whichever of background and camera is None, keeping pans on textures."""
    if background is None:
        options = list(BACKGROUNDS) if camera in (None, "static") else list(TEXTURED_BACKGROUNDS)
        weights = np.array([0.3, 0.25, 0.25, 0.2])[[list(BACKGROUNDS).index(b) for b in options]]
        background = str(rng.choice(options, p=weights / weights.sum()))
    if camera is None:
        camera = str(rng.choice(CAMERAS, p=[0.4, 0.3, 0.3])) if background in TEXTURED_BACKGROUNDS else "static"
    return background, camera


def build_scene(
    rng: np.random.Generator,
    specs: list[tuple[str | None, str | None, str | None, str | None]],
    *,
    background: str,
    camera: str,
    seconds: float,
    seed: int | None = None,
    split: str | None = None,
) -> Scene:
    """Complete (color, shape, size, motion) specs, any of them None, into a scene.

    Unspecified attributes are sampled; start positions are re-drawn (a few times) so
    objects do not overlap at t=0, which keeps every object identifiable in frame 0."""
    if not seconds > 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    taken = {color for color, *_ in specs if color is not None}
    free = [c for c in COLORS if c not in taken]
    filled = []
    for color, shape, size, motion in specs:
        if color is None:
            color = str(free.pop(int(rng.integers(len(free)))))
        filled.append(
            (
                color,
                shape or str(rng.choice(SHAPES)),
                size or str(rng.choice(list(SIZES))),
                motion or str(rng.choice(MOTIONS)),
            )
        )
    depths = rng.permutation(len(filled))
    for _attempt in range(20):
        kinematics = [_sample_kinematics(rng, shape, SIZES[size], motion, seconds) for _, shape, size, motion in filled]
        if not _overlapping([k[0] for k in kinematics], [SIZES[f[2]] for f in filled]):
            break
    objects = tuple(
        WorldObject(color=c, shape=s, size=z, motion=m, position=pos, velocity=vel, depth=int(d))
        for (c, s, z, m), (pos, vel), d in zip(filled, kinematics, depths)
    )
    backdrop_offset = (float(rng.uniform(0, 2)), float(rng.uniform(0, 2)))
    return Scene(
        objects=objects,
        background=background,
        camera=camera,
        seconds=float(seconds),
        backdrop_offset=backdrop_offset,
        seed=seed,
        split=split,
    )


def _overlapping(positions: list[tuple[float, float]], half_extents: list[float]) -> bool:
    for i in range(len(positions)):
        for j in range(i):
            gap = math.dist(positions[i], positions[j])
            if gap < 1.6 * (half_extents[i] + half_extents[j]):
                return True
    return False


def _sample_kinematics(
    rng: np.random.Generator, shape: str, half_extent: float, motion: str, seconds: float
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Start position and initial velocity (frame units) for one motion.

    Margins scale the shape's extents by `half_extent`, the largest normalised size at
    any aspect ratio (size_x = s * min(W, H) / W <= s), so starts are in frame at all."""
    left, right, up, down = (half_extent * e + 0.01 for e in SHAPE_EXTENTS[shape])
    x_lo, x_hi, y_lo, y_hi = left, 1.0 - right, up, 1.0 - down
    if motion == "still":
        return (rng.uniform(x_lo, x_hi), rng.uniform(y_lo, y_hi)), (0.0, 0.0)
    if motion == "falling":
        # Upper part of the frame, at rest: gravity does the rest (physics.py).
        return (rng.uniform(x_lo, x_hi), rng.uniform(y_lo, max(y_lo, 0.35))), (0.0, 0.0)
    if motion == "bouncing":
        x, y = rng.uniform(x_lo, x_hi), rng.uniform(y_lo, y_hi)
        vx, vy = rng.uniform(*BOUNCE_SPEED), rng.uniform(*BOUNCE_SPEED)
        # Head for the nearer side wall, so a bounce happens within ~1.5 s.
        vx = vx if x > 0.5 else -vx
        vy = vy if rng.random() < 0.5 else -vy
        return (x, y), (vx, vy)
    dx, dy = LINEAR_MOTIONS[motion]
    lo, hi = (x_lo, x_hi) if dx else (y_lo, y_hi)
    speed = rng.uniform(*(SLOW_SPEED if rng.random() < 0.5 else QUICK_SPEED))
    if seconds <= FIT_SECONDS:
        speed = min(speed, (hi - lo) / seconds)
        start = rng.uniform(0.0, (hi - lo) - speed * seconds)  # distance from the trailing edge
    else:
        start = rng.uniform(0.0, 0.25 * (hi - lo))  # it may leave the frame later
    along = lo + start if (dx + dy) > 0 else hi - start
    position = (along, rng.uniform(y_lo, y_hi)) if dx else (rng.uniform(x_lo, x_hi), along)
    return position, (dx * speed, dy * speed)
