"""Pixel-only object detection: palette classification, per-colour blobs, soft coverage.

Every frame is read as an image and nothing else. Pixels are assigned to the nearest of the
eight palette colours in CIELAB when within a tolerance (Delta E 1976). Blobs are connected
components with an interior (a pixel whose four neighbours share its colour: anti-aliased
edges are one pixel wide) that are not a blended seam (a thin band whose colour mixes the
two objects it lies between: red over yellow reads as orange). Each blob gets a soft
coverage map, alpha in [0, 1] per pixel, by linear unmixing of the pixel into the blob's
colour, the local backdrop (and its texture direction) and any neighbouring object's colour,
so areas, centroids and shape moments stay accurate for objects a few pixels across.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import ndimage

# The agreed world palette (sRGB). Kept here so the benchmark depends on the vocabulary, not
# on the generator's code; tests check that it matches `tenku.world.COLORS`.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (230, 40, 40),
    "green": (40, 190, 70),
    "blue": (50, 100, 240),
    "yellow": (245, 220, 40),
    "orange": (250, 140, 30),
    "purple": (160, 70, 210),
    "cyan": (40, 210, 230),
    "white": (245, 245, 245),
}
COLOR_NAMES: tuple[str, ...] = tuple(PALETTE)

_CROSS = ndimage.generate_binary_structure(2, 1)  # 4-neighbourhood
_SQUARE = ndimage.generate_binary_structure(2, 2)  # 8-neighbourhood
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True, kw_only=True)
class DetectConfig:
    color_tolerance: float = 30.0
    """Largest Delta E (CIE76) between a pixel and a palette colour for the pixel to count as
    that colour. The closest palette pair (blue/purple) is 32 apart; assignment is by nearest
    colour, so the tolerance only decides object versus background / anti-aliased edge."""
    min_area_fraction: float = 0.002
    """Smallest blob area as a fraction of min(H, W)^2 (a small object, radius 0.07 min(H, W),
    covers 0.015); smaller specks are noise or an object almost gone through an edge."""
    thin_max_distance: float = 2.5
    """A component whose deepest pixel is closer than this to its boundary, whose boundary
    mostly touches other palette colours and whose colour is a blend of two of them, is a
    seam between two objects, not an object."""

    def __post_init__(self) -> None:
        if not 0 < self.color_tolerance < 100:
            raise ValueError(f"color_tolerance must be in (0, 100), got {self.color_tolerance}")
        if not 0 <= self.min_area_fraction < 0.5:
            raise ValueError(f"min_area_fraction must be in [0, 0.5), got {self.min_area_fraction}")


@dataclass(frozen=True)
class GreyOnTexture:
    """What the template shape classifier needs when coverage cannot be unmixed."""

    luma: np.ndarray  # (h, w) window luma
    valid: np.ndarray  # (h, w) pixels not belonging to another object
    tones: tuple[float, float]  # dark and light backdrop luma
    color: float  # the object's luma


@dataclass(kw_only=True)
class Blob:
    """One object's visible pixels in one frame (pieces split by an occluder are one blob)."""

    frame: int
    color: str
    area: float
    """Soft area in pixels (sum of coverage)."""
    center: tuple[float, float]
    """Coverage-weighted centroid (x, y) in pixels; pixel (row i, col j) has centre (j + .5, i + .5)."""
    bbox: tuple[int, int, int, int]
    """(x0, y0, x1, y1), exclusive upper bounds, of the blob's pixels."""
    touches_edge: bool
    """Covers a border pixel: possibly cut by the frame edge."""
    touches_other: bool
    """Adjacent to another object's pixels: possibly partly hidden by it."""
    num_pieces: int
    coverage: np.ndarray = field(repr=False)
    """(h, w) float32 soft coverage in the bbox window `origin`-relative."""
    origin: tuple[int, int] = (0, 0)
    """(x, y) of the coverage window's top-left pixel."""
    grey_on_texture: GreyOnTexture | None = field(default=None, repr=False)
    """Set when coverage is ambiguous: a grey/white object on a grey two-tone texture."""


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 sRGB -> (..., 3) float32 CIELAB (D65), the usual piecewise definitions."""
    c = np.asarray(rgb, dtype=np.float32) / 255.0
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]], dtype=np.float32)
    xyz = (c @ m.T) / np.array([0.95047, 1.0, 1.08883], dtype=np.float32)
    delta = 6.0 / 29.0
    f = np.where(xyz > delta**3, np.cbrt(xyz), xyz / (3 * delta**2) + 4.0 / 29.0)
    return np.stack(
        [116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])], axis=-1
    ).astype(np.float32)


PALETTE_LAB = srgb_to_lab(np.array([PALETTE[name] for name in COLOR_NAMES], dtype=np.uint8))  # (8, 3)


_LUT_BITS = 6  # per channel: 2^18 bins, each within 2 levels of any pixel in it


@lru_cache(maxsize=4)
def _palette_lut(tolerance: float) -> np.ndarray:
    """(2^18,) int8 palette index (or -1) for every RGB bin, evaluated at the bin centre."""
    levels = (np.arange(2**_LUT_BITS) << (8 - _LUT_BITS)) + (1 << (7 - _LUT_BITS))  # bin centres
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    lab = srgb_to_lab(grid.astype(np.uint8))  # (N, 3)
    dist = np.sqrt(
        np.maximum((lab**2).sum(-1, keepdims=True) - 2 * lab @ PALETTE_LAB.T + (PALETTE_LAB**2).sum(-1), 0)
    )  # (N, 8)
    nearest = dist.argmin(-1)
    return np.where(dist[np.arange(len(dist)), nearest] < tolerance, nearest, -1).astype(np.int8)


def classify_pixels(frames: np.ndarray, tolerance: float) -> np.ndarray:
    """(..., 3) uint8 -> (...) int8 palette index, -1 for background / unsure pixels.

    Nearest palette colour in CIELAB within `tolerance`, through a 6-bit-per-channel lookup table."""
    q = (np.asarray(frames, dtype=np.uint8) >> (8 - _LUT_BITS)).astype(np.int32)
    index = (q[..., 0] << (2 * _LUT_BITS)) | (q[..., 1] << _LUT_BITS) | q[..., 2]
    return _palette_lut(float(tolerance))[index]


_PALETTE_RGB = np.array([PALETTE[name] for name in COLOR_NAMES], dtype=np.float32)  # (8, 3)


def _is_blend(color: np.ndarray, around: np.ndarray) -> bool:
    """Whether RGB `color` lies between two of the palette colours `around` it: the seam where
    two objects' anti-aliased edges mix (red over yellow reads as orange)."""
    for a, b in itertools.combinations(np.unique(around), 2):
        start, direction = _PALETTE_RGB[a], _PALETTE_RGB[b] - _PALETTE_RGB[a]
        s = float((color - start) @ direction / (direction @ direction))
        if 0.15 <= s <= 0.85 and np.linalg.norm(start + s * direction - color) < 30.0:
            return True
    return False


def _object_components(frame: np.ndarray, labels: np.ndarray, config: DetectConfig) -> dict[int, list[np.ndarray]]:
    """Palette index -> boolean masks of the components of that colour that look like objects."""
    height, width = labels.shape
    min_area = max(4.0, config.min_area_fraction * min(height, width) ** 2)
    colored = labels >= 0
    found: dict[int, list[np.ndarray]] = {}
    for k in np.unique(labels[colored]):
        mask = labels == k
        comp, num = ndimage.label(mask, structure=_SQUARE)
        area = np.bincount(comp.ravel(), minlength=num + 1)
        for i, box in enumerate(ndimage.find_objects(comp)):
            if box is None or area[i + 1] < min_area:
                continue
            # A one-pixel margin so that erosion and dilation see the component's surroundings.
            y0, y1 = max(box[0].start - 1, 0), min(box[0].stop + 1, height)
            x0, x1 = max(box[1].start - 1, 0), min(box[1].stop + 1, width)
            piece = comp[y0:y1, x0:x1] == i + 1
            # Opening by reconstruction with a cross: one- and two-pixel-wide bands have no interior.
            if not ndimage.binary_erosion(piece, _CROSS).any():
                continue
            if ndimage.distance_transform_edt(np.pad(piece, 1)).max() < config.thin_max_distance:
                ring = ndimage.binary_dilation(piece, _SQUARE) & ~piece & colored[y0:y1, x0:x1]
                if ring.sum() > 0.5 * (ndimage.binary_dilation(piece, _SQUARE) & ~piece).sum():
                    color = np.median(frame[y0:y1, x0:x1][piece].astype(np.float32), axis=0)
                    if _is_blend(color, labels[y0:y1, x0:x1][ring]):
                        continue  # a thin band of blended colour between two other objects
            full = np.zeros_like(mask)
            full[y0:y1, x0:x1] = piece
            found.setdefault(int(k), []).append(full)
    return found


def _unmix(values: np.ndarray, basis: list[np.ndarray]) -> np.ndarray:
    """Least-squares coefficient of basis[0] for values (N, 3) = sum_i coef_i basis[i]; basis
    vectors nearly parallel to basis[0] are dropped (they would make it ill-determined)."""
    first = basis[0] / np.linalg.norm(basis[0])
    kept = [basis[0]] + [v for v in basis[1:] if abs(first @ v) / np.linalg.norm(v) < 0.9]
    coef, *_ = np.linalg.lstsq(np.stack(kept, axis=-1), values.T, rcond=None)  # (k, N)
    return coef[0]


def _coverage(
    frame: np.ndarray, mask: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, tuple[int, int], GreyOnTexture | None]:
    """Soft coverage of one blob in a padded window, by linear unmixing of each pixel p.

    Over the background, p - b = alpha (c - b) with c the blob's median colour and b the mean
    of the background ring around it. A textured backdrop varies along one direction d (its
    two tones), so p - b = alpha (c - b) + gamma d. Next to another palette-coloured pixel
    (another object, even a sliver too small to be a blob) of colour o, the pixel mixes in o
    too: + beta (o - b). Solving for alpha keeps a neighbour's blended rim or a checker edge
    out of this object's area, centroid and shape. When c - b is parallel to d (a white
    object on a grey texture) that is impossible, and what a template fit needs is returned."""
    height, width = mask.shape
    ys, xs = np.nonzero(mask)
    pad = 5
    y0, y1 = max(ys.min() - pad, 0), min(ys.max() + pad + 1, height)
    x0, x1 = max(xs.min() - pad, 0), min(xs.max() + pad + 1, width)
    m = mask[y0:y1, x0:x1]
    window = labels[y0:y1, x0:x1]
    pixels = frame[y0:y1, x0:x1].astype(np.float32)  # (h, w, 3)
    near = ndimage.binary_dilation(m, _SQUARE, iterations=2)
    ring = ndimage.binary_dilation(m, _SQUARE, iterations=5) & ~near & (window < 0)
    if ring.sum() >= 4:
        samples = pixels[ring]
    elif (labels < 0).any():
        samples = frame[labels < 0].astype(np.float32)
    else:
        samples = np.zeros((1, 3), np.float32)
    background = samples.mean(axis=0)
    basis_texture = []
    if len(samples) >= 4:
        spread, directions = np.linalg.eigh(np.cov(samples.T))
        if spread[-1] > 9.0:  # more than 3 levels of standard deviation: a textured backdrop
            basis_texture = [directions[:, -1]]
    inner = ndimage.binary_erosion(m, _CROSS)
    color = np.median(pixels[inner if inner.any() else m], axis=0)
    axis = color - background
    if float(axis @ axis) < 1.0:
        return m.astype(np.float32), (int(x0), int(y0)), None
    alpha = np.zeros(m.shape, np.float32)
    alpha[near] = _unmix(pixels[near] - background, [axis, *basis_texture])
    grey = None
    if basis_texture and abs(axis @ basis_texture[0]) / np.linalg.norm(axis) >= 0.9:
        luma = pixels @ _LUMA
        tones = tuple(float(v) for v in np.percentile(samples @ _LUMA, [5, 95]))
        grey = (luma, tones, float(color @ _LUMA))
    own = int(np.bincount(window[m].astype(np.int64) + 1).argmax()) - 1
    others = (window >= 0) & (window != own)
    if others.any():
        distance, (iy, ix) = ndimage.distance_transform_edt(~others, return_indices=True)
        nearest = window[iy, ix]  # label of the closest other-coloured pixel
        for k in np.unique(nearest[near & (distance <= 3)]):
            other = np.median(pixels[others & (window == k)], axis=0) - background
            where = near & (distance <= 3) & (nearest == k)
            alpha[where] = _unmix(pixels[where] - background, [axis, other, *basis_texture])
    # Only the blob and its anti-aliased rim; never pixels that belong to another object.
    alpha = np.where(near & ~others, np.clip(alpha, 0.0, 1.0), 0.0)
    alpha = np.where(inner, 1.0, alpha)
    alpha[alpha < 0.05] = 0.0
    if grey is not None:
        grey = GreyOnTexture(luma=grey[0], valid=~others, tones=grey[1], color=grey[2])
    return alpha.astype(np.float32), (int(x0), int(y0)), grey


def detect_frame(frame: np.ndarray, labels: np.ndarray, index: int, config: DetectConfig) -> list[Blob]:
    """Blobs of one (H, W, 3) frame given its palette labels (H, W)."""
    components = _object_components(frame, labels, config)
    if not components:
        return []
    objects = np.zeros(labels.shape, dtype=bool)
    for masks in components.values():
        for mask in masks:
            objects |= mask
    # Pieces of one colour that are joined through other objects (an occluder in front, with its
    # blended rim) are one object seen in parts; pieces separated by background are separate.
    groups, _ = ndimage.label(ndimage.binary_dilation(objects, _SQUARE, iterations=2), structure=_SQUARE)
    blobs = []
    for masks in components.values():
        by_group: dict[int, list[np.ndarray]] = {}
        for mask in masks:
            by_group.setdefault(int(groups[mask][0]), []).append(mask)
        for pieces in by_group.values():
            mask = np.logical_or.reduce(pieces)
            blobs.append(make_blob(frame, labels, mask, index, objects & ~mask, num_pieces=len(pieces)))
    return blobs


def make_blob(
    frame: np.ndarray, labels: np.ndarray, mask: np.ndarray, index: int, others: np.ndarray, num_pieces: int = 1
) -> Blob:
    """The blob of one object's pixels `mask` in a frame; `others` marks other objects' pixels."""
    height, width = mask.shape
    alpha, (x0, y0), grey = _coverage(frame, mask, labels)
    area = float(alpha.sum())
    h, w = alpha.shape
    ys, xs = np.mgrid[y0 : y0 + h, x0 : x0 + w]
    cx = float((alpha * (xs + 0.5)).sum() / area)
    cy = float((alpha * (ys + 0.5)).sum() / area)
    on = alpha >= 0.5
    border = (
        (y0 == 0 and on[0].any())
        or (x0 == 0 and on[:, 0].any())
        or (y0 + h == height and on[-1].any())
        or (x0 + w == width and on[:, -1].any())
    )
    rows, cols = np.nonzero(mask)
    return Blob(
        frame=index,
        color=COLOR_NAMES[int(np.bincount(labels[mask].astype(np.int64) + 1).argmax()) - 1],
        area=area,
        center=(cx, cy),
        bbox=(int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1),
        touches_edge=bool(border),
        touches_other=bool((ndimage.binary_dilation(mask, _SQUARE, iterations=3) & others).any()),
        num_pieces=num_pieces,
        coverage=alpha,
        origin=(x0, y0),
        grey_on_texture=grey,
    )


def detect_video(frames: np.ndarray, config: DetectConfig | None = None) -> list[list[Blob]]:
    """(T, H, W, 3) uint8 -> per frame, the list of blobs found in it."""
    config = config or DetectConfig()
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    labels = classify_pixels(frames, config.color_tolerance)
    return [detect_frame(frame, labels[t], t, config) for t, frame in enumerate(frames)]
