"""Shape classification of one object's soft mask: circle, square or triangle.

Two classifiers, both resolution-free:

- moments (the default): rotation-invariant complex moments c_pq = sum alpha (z - z_bar)^p
  (conj)^q of the coverage. A disk has no 3- or 4-fold harmonic; a square (at any rotation)
  has |c_40| / A^3 = 1/60; an equilateral triangle |c_30| / A^2.5 ~= 0.068. Anti-aliased
  coverage keeps these within a few per cent even at a 2 px radius.
- templates, for the one case where coverage itself is ambiguous: a grey or white object on a
  two-tone grey texture, where a rim pixel's brightness could be low coverage over the light
  tone or higher coverage over the dark one. Each shape is rendered with the usual one-pixel
  anti-aliasing ramp at a few centres and sizes around the blob's, and scored by how far each
  pixel falls outside the brightness interval [a c + (1 - a) t0, a c + (1 - a) t1] that
  coverage a over either tone allows.
"""

from __future__ import annotations

import math

import numpy as np

SHAPE_NAMES: tuple[str, ...] = ("circle", "square", "triangle")
# Area in units of the half-extent squared (the world's definitions): a circle pi r^2, a square
# (2r)^2, an equilateral triangle of circumradius 1.5 r pointing up: (3 sqrt 3 / 4)(1.5 r)^2.
SHAPE_AREAS: dict[str, float] = {"circle": math.pi, "square": 4.0, "triangle": 3 * math.sqrt(3) / 4 * 1.5**2}
SHAPE_FEATURES: dict[str, tuple[float, float]] = {
    "circle": (0.0, 0.0),
    "square": (0.0, 1.0 / 60.0),
    "triangle": (0.068, 0.0018),
}
_FEATURE_SCALE = (0.068 / 2, 1.0 / 120.0)
_SIN60 = math.sqrt(3) / 2
_TRIANGLE_NORMALS = ((0.0, 1.0), (_SIN60, -0.5), (-_SIN60, -0.5))  # outward, y down


def shape_features(coverage: np.ndarray) -> tuple[float, float]:
    """(t3, t4) = (|c_30| / A^2.5, |c_40| / A^3) of a soft mask: triangle-ness and square-ness."""
    area = float(coverage.sum())
    if area <= 0:
        return (0.0, 0.0)
    ys, xs = np.mgrid[0 : coverage.shape[0], 0 : coverage.shape[1]]
    cx = float((coverage * xs).sum() / area)
    cy = float((coverage * ys).sum() / area)
    z = (xs - cx) + 1j * (ys - cy)
    t3 = abs(complex((coverage * z**3).sum())) / area**2.5
    t4 = abs(complex((coverage * z**4).sum())) / area**3
    return (t3, t4)


def classify_shape(features: tuple[float, float]) -> tuple[str, float]:
    """Nearest ideal shape in scaled feature space; returns (shape, margin), margin in [0, 1]:
    how much closer the winner is than the runner-up (0 = a tie)."""
    scores = {
        name: ((features[0] - ideal[0]) / _FEATURE_SCALE[0]) ** 2 + ((features[1] - ideal[1]) / _FEATURE_SCALE[1]) ** 2
        for name, ideal in SHAPE_FEATURES.items()
    }
    return _ranked(scores)


def _ranked(scores: dict[str, float]) -> tuple[str, float]:
    ranked = sorted(scores, key=scores.get)
    best, second = scores[ranked[0]], scores[ranked[1]]
    return ranked[0], float((second - best) / (second + best + 1e-12))


def template_coverage(shape: str, dx: np.ndarray, dy: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage clip(0.5 - signed distance) of a shape centred at its centroid;
    dx, dy are pixel centres minus the centre, `radius` the half-extent (broadcastable)."""
    if shape == "square":
        return np.clip(radius + 0.5 - np.abs(dx), 0.0, 1.0) * np.clip(radius + 0.5 - np.abs(dy), 0.0, 1.0)
    if shape == "circle":
        return np.clip(radius + 0.5 - np.sqrt(dx * dx + dy * dy), 0.0, 1.0)
    if shape == "triangle":
        inradius = 0.75 * radius
        edges = [nx * dx + ny * dy for nx, ny in _TRIANGLE_NORMALS]
        sdf = np.maximum(np.maximum(edges[0], edges[1]), edges[2])
        return np.clip(inradius + 0.5 - sdf, 0.0, 1.0)
    raise ValueError(f"unknown shape {shape!r}; allowed: {', '.join(SHAPE_NAMES)}")


def template_costs(
    luma: np.ndarray,
    valid: np.ndarray,
    tones: tuple[float, float],
    color: float,
    center: tuple[float, float],
    area: float,
) -> dict[str, float]:
    """Per shape, the least squared brightness error (over `valid` pixels of the window) of
    the shape drawn over an unknown mix of two background tones, searching centre +-0.5 px
    and size +-20% around the blob's own."""
    h, w = luma.shape
    offsets = np.linspace(-0.5, 0.5, 5)
    scales = np.linspace(0.8, 1.2, 7)
    ox, oy, sc = (a.reshape(-1, 1, 1) for a in np.meshgrid(offsets, offsets, scales, indexing="ij"))  # (K, 1, 1)
    ys, xs = np.mgrid[0:h, 0:w] + 0.5  # (h, w) pixel centres in window coordinates
    dark, light = tones
    costs = {}
    for shape in SHAPE_NAMES:
        radius = math.sqrt(max(area, 1e-6) / SHAPE_AREAS[shape]) * sc
        a = template_coverage(shape, xs - center[0] - ox, ys - center[1] - oy, radius)  # (K, h, w)
        low = a * color + (1 - a) * dark
        high = a * color + (1 - a) * light
        outside = np.maximum(low - luma, 0) + np.maximum(luma - high, 0)
        costs[shape] = float((outside**2 * valid).sum(axis=(1, 2)).min())
    return costs


def classify_by_templates(costs: list[dict[str, float]]) -> tuple[str, float]:
    """Shape with the least summed template cost over frames, and its margin."""
    return _ranked({name: sum(c[name] for c in costs) for name in SHAPE_NAMES})
