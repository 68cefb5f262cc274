"""Tracks: blobs linked over time, and what a track says about its object.

Objects in one scene have distinct colours, so within a colour linking is almost always
trivial (one blob per frame); when a colour shows several blobs at once (a generator that
drew two red balls) blobs are linked by Hungarian matching on predicted positions with a
gate. From a track come the object's visible fraction per frame (area over its reference
area), the frames where it is fully visible, its shape and size (from those frames only),
and persistence events: every disappearance and appearance inside the clip needs a cause,
the frame edge or a nearer object, and a jump between consecutive frames is a teleport.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from tenku.eval.detect import COLOR_NAMES, Blob, make_blob
from tenku.eval.shapes import SHAPE_AREAS, classify_by_templates, classify_shape, shape_features, template_costs

# Half-extent / min(H, W) of the world's sizes; the classifier splits at geometric midpoints.
SIZE_FRACTIONS: dict[str, float] = {"small": 0.07, "medium": 0.10, "large": 0.14}
FULL_FRACTION = 0.92
"""A blob with at least this fraction of its track's reference area is fully visible."""


@dataclass(frozen=True, kw_only=True)
class ShapeResult:
    shape: str
    margin: float
    """How much closer the winner is than the runner-up, 0 (a tie) to 1."""
    consistency: float
    """Fraction of the views that alone give the same shape (a morphing object scores low)."""
    from_full_views: bool


@dataclass(kw_only=True)
class Track:
    color: str
    blobs: list[Blob] = field(default_factory=list)

    @property
    def frames(self) -> np.ndarray:
        return np.array([b.frame for b in self.blobs], dtype=np.int64)

    @property
    def centers(self) -> np.ndarray:
        return np.array([b.center for b in self.blobs], dtype=np.float64).reshape(-1, 2)

    @property
    def areas(self) -> np.ndarray:
        return np.array([b.area for b in self.blobs], dtype=np.float64)

    def reference_area(self) -> float:
        """The object's full area: the upper quartile over frames where nothing can cut it
        (the maximum is inflated by compression noise), else the largest area seen."""
        clear = [b.area for b in self.blobs if not b.touches_edge and not b.touches_other]
        if len(clear) >= 3:
            return float(np.percentile(clear, 75))
        return float(self.areas.max())

    def visible_fraction(self) -> np.ndarray:
        return np.minimum(self.areas / max(self.reference_area(), 1e-9), 1.0)

    def full_blobs(self, touching_fraction: float = 0.95) -> list[Blob]:
        """Blobs where the whole object is visible: not cut by an edge or hidden by another
        object. Next to another object, whose blended rim makes the area uncertain, at least
        `touching_fraction` of the reference area must be seen."""
        fraction = self.visible_fraction()
        return [
            b
            for b, f in zip(self.blobs, fraction)
            if f >= FULL_FRACTION
            and (not b.touches_other or f >= touching_fraction)
            and (not b.touches_edge or f >= 0.95)
        ]

    def motion_blobs(self) -> list[Blob]:
        """Views whose centroid is the object's centre, for trajectories: the fully visible
        ones, or, when there are fewer than 3 of those (an object mostly behind another),
        the most complete ones available."""
        for views in (
            self.full_blobs(),
            self.full_blobs(touching_fraction=FULL_FRACTION),
            [b for b, f in zip(self.blobs, self.visible_fraction()) if f >= 0.8],
        ):
            if len(views) >= 3:
                return views
        return self.full_blobs()

    def extents(self) -> tuple[float, float, float, float]:
        """Median reach (left, right, up, down) in px of the object from its centre."""
        blobs = self.full_blobs() or self.blobs
        reach = []
        for b in blobs:
            ys, xs = np.nonzero(b.coverage >= 0.5)
            if len(xs) == 0:
                continue
            x0, y0 = b.origin
            cx, cy = b.center
            reach.append((cx - (x0 + xs.min()), x0 + xs.max() + 1 - cx, cy - (y0 + ys.min()), y0 + ys.max() + 1 - cy))
        if not reach:
            return (0.0, 0.0, 0.0, 0.0)
        return tuple(float(v) for v in np.median(np.array(reach), axis=0))  # type: ignore[return-value]

    def shape(self) -> ShapeResult:
        """The object's shape from up to 16 views spread over the clip: area-weighted mean
        moment features, or summed template costs for a grey object on a grey texture."""
        full_blobs = self.full_blobs()
        # Unobstructed views first: a neighbour's blended rim is the largest source of error;
        # an object that always touches another is judged on its most complete views.
        clear = [b for b in full_blobs if not b.touches_other and not b.touches_edge]
        blobs = clear if len(clear) >= 3 else self.full_blobs(touching_fraction=FULL_FRACTION)
        if not full_blobs:
            blobs = sorted(self.blobs, key=lambda b: -b.area)[:3]
        blobs = [blobs[i] for i in np.unique(np.linspace(0, len(blobs) - 1, 16).round().astype(int))]
        grey = [b for b in blobs if b.grey_on_texture is not None]
        if len(grey) * 2 > len(blobs):
            costs = []
            for b in grey:
                g = b.grey_on_texture
                center = (b.center[0] - b.origin[0], b.center[1] - b.origin[1])  # window coordinates
                costs.append(template_costs(g.luma, g.valid, g.tones, g.color, center, b.area))
            name, margin = classify_by_templates(costs)
            each = [classify_by_templates([c])[0] for c in costs]
        else:
            weights = np.array([b.area for b in blobs])
            features = np.array([shape_features(b.coverage) for b in blobs])  # (N, 2)
            name, margin = classify_shape(tuple(float(v) for v in (weights @ features) / weights.sum()))
            each = [classify_shape(tuple(f))[0] for f in features]
        consistency = sum(e == name for e in each) / len(each)
        return ShapeResult(shape=name, margin=margin, consistency=consistency, from_full_views=bool(full_blobs))

    def radius(self, shape: str) -> float:
        """Half-extent in px implied by the reference area for a world `shape`."""
        return math.sqrt(self.reference_area() / SHAPE_AREAS.get(shape, math.pi))

    def size(self, shape: str, frame_size: tuple[int, int]) -> str:
        fraction = self.radius(shape) / min(frame_size)
        names = list(SIZE_FRACTIONS)
        values = [SIZE_FRACTIONS[n] for n in names]
        for name, lo, hi in zip(names, values[:-1], values[1:]):
            if fraction < math.sqrt(lo * hi):
                return name
        return names[-1]


def link_tracks(blobs_per_frame: list[list[Blob]], frame_size: tuple[int, int], max_gap: int = 8) -> list[Track]:
    """Link blobs of each colour across frames into tracks."""
    width, height = frame_size
    gate = 0.35 * max(width, height)  # px per frame of separation; a teleport inside one colour still links
    by_color: dict[str, list[list[Blob]]] = {}
    for blobs in blobs_per_frame:
        for blob in blobs:
            by_color.setdefault(blob.color, [[] for _ in blobs_per_frame])[blob.frame].append(blob)
    tracks: list[Track] = []
    for color, frames in by_color.items():
        if all(len(f) <= 1 for f in frames):
            tracks.append(Track(color=color, blobs=[f[0] for f in frames if f]))
            continue
        active: list[Track] = []
        for t, blobs in enumerate(frames):
            alive = [tr for tr in active if t - tr.blobs[-1].frame <= max_gap]
            cost = np.full((len(alive), len(blobs)), 1e9)
            for i, track in enumerate(alive):
                last = np.array(track.blobs[-1].center)
                if len(track.blobs) >= 2 and track.blobs[-2].frame == track.blobs[-1].frame - 1:
                    velocity = last - np.array(track.blobs[-2].center)
                else:
                    velocity = np.zeros(2)
                predicted = last + velocity * (t - track.blobs[-1].frame)
                for j, blob in enumerate(blobs):
                    distance = float(np.linalg.norm(np.array(blob.center) - predicted))
                    if distance <= gate * (t - track.blobs[-1].frame):
                        cost[i, j] = distance
            matched = set()
            if alive and blobs:
                rows, cols = linear_sum_assignment(cost)
                for i, j in zip(rows, cols):
                    if cost[i, j] < 1e9:
                        alive[i].blobs.append(blobs[j])
                        matched.add(j)
            for j, blob in enumerate(blobs):
                if j not in matched:
                    track = Track(color=color, blobs=[blob])
                    active.append(track)
                    tracks.append(track)
    return tracks


def fill_gaps(
    track: Track, frames: np.ndarray, labels: np.ndarray, blobs_per_frame: list[list[Blob]], max_gap: int = 2
) -> None:
    """Look again for the object in short gaps of its track, without the thickness test: an
    object a few pixels across can fail it at some sub-pixel positions. A frame is filled only
    when pixels of the object's colour near the interpolated position add up to at least half
    its area, so an object that really blinks out still leaves a gap."""
    k = COLOR_NAMES.index(track.color)
    reference = track.reference_area()
    found = []
    for before, after in zip(track.blobs[:-1], track.blobs[1:]):
        if not 1 < after.frame - before.frame <= max_gap + 1:
            continue
        for j in range(before.frame + 1, after.frame):
            w = (j - before.frame) / (after.frame - before.frame)
            center = (1 - w) * np.array(before.center) + w * np.array(after.center)
            x0, y0, x1, y1 = before.bbox
            half = 0.5 * max(x1 - x0, y1 - y0) + 2
            height, width = labels[j].shape
            rows = slice(max(int(center[1] - half), 0), min(int(center[1] + half) + 1, height))
            cols = slice(max(int(center[0] - half), 0), min(int(center[0] + half) + 1, width))
            mask = np.zeros((height, width), dtype=bool)
            mask[rows, cols] = labels[j][rows, cols] == k
            if mask.sum() < max(3.0, 0.4 * reference):
                continue
            blob = make_blob(frames[j], labels[j], mask, j, (labels[j] >= 0) & (labels[j] != k))
            if blob.area >= 0.5 * reference:
                found.append(blob)
                blobs_per_frame[j].append(blob)
    if found:
        track.blobs = sorted(track.blobs + found, key=lambda b: b.frame)


@dataclass(frozen=True)
class PersistenceEvent:
    kind: str
    """One of "vanish", "appear", "jump" (a teleport), "resize" (changing size in plain view)."""
    frame: int
    cause: str | None
    """"edge" or "occluded"; None when nothing in the frame explains the event."""


def _covers(other: Blob, point: np.ndarray, margin: float) -> bool:
    x0, y0, x1, y1 = other.bbox
    return x0 - margin <= point[0] <= x1 + margin and y0 - margin <= point[1] <= y1 + margin


def _cause(
    track: Track, i: int, direction: int, blobs_per_frame: list[list[Blob]], frame_size: tuple[int, int]
) -> str | None:
    """Why the object is unseen one frame after (direction=+1) or before (-1) its blob i:
    "edge" when it is cut by or heading out of the frame, "occluded" when another object
    covers where it should be, None when nothing explains it."""
    width, height = frame_size
    blob = track.blobs[i]
    neighbour = i - direction
    if 0 <= neighbour < len(track.blobs) and abs(track.blobs[neighbour].frame - blob.frame) == 1:
        step = np.array(blob.center) - np.array(track.blobs[neighbour].center)  # along `direction` in time
    else:
        step = np.zeros(2)
    predicted = np.array(blob.center) + step
    if blob.touches_edge:
        outside = not (0 <= predicted[0] <= width and 0 <= predicted[1] <= height)
        if track.visible_fraction()[i] < 0.75 or outside:
            return "edge"
    if blob.touches_other and track.visible_fraction()[i] < 0.9:
        return "occluded"  # partly hidden by a neighbour as it goes: emerging or disappearing
    # Hidden by another object large enough to cover it, and within the object's reach in one
    # frame: twice its last step in any direction (a floor bounce turns a fall around at a
    # speed the last step underestimates), not just where it was heading.
    x0, y0, x1, y1 = blob.bbox
    reach = 0.5 * max(x1 - x0, y1 - y0) + 2.0 * float(np.linalg.norm(step)) + 1.0
    unseen = blob.frame + direction
    if 0 <= unseen < len(blobs_per_frame):
        center = np.array(blob.center)
        reference = track.reference_area()
        for other in blobs_per_frame[unseen]:
            if other.color != track.color and other.area >= 0.3 * reference and _covers(other, center, reach):
                return "occluded"
    return None


def _hidden_between(track: Track, i: int, blobs_per_frame: list[list[Blob]]) -> bool:
    """Whether, in every frame of the gap after blob i, another object covers some of the
    region between where the object was last seen and where it is seen again (a fast object
    can bounce while hidden, so its path is not extrapolated, only bounded)."""
    before, after = track.blobs[i], track.blobs[i + 1]
    x0 = min(before.bbox[0], after.bbox[0])
    y0 = min(before.bbox[1], after.bbox[1])
    x1 = max(before.bbox[2], after.bbox[2])
    y1 = max(before.bbox[3], after.bbox[3])
    for frame in range(before.frame + 1, after.frame):
        if not any(
            o.color != track.color and o.bbox[0] < x1 and x0 < o.bbox[2] and o.bbox[1] < y1 and y0 < o.bbox[3]
            for o in blobs_per_frame[frame]
        ):
            return False
    return True


def persistence_events(
    track: Track, num_frames: int, blobs_per_frame: list[list[Blob]], frame_size: tuple[int, int]
) -> list[PersistenceEvent]:
    """Disappearances, appearances and jumps of one track, each with its cause (or None)."""
    width, height = frame_size
    events = []
    frames = track.frames
    if frames[0] > 0:
        events.append(PersistenceEvent("appear", int(frames[0]), _cause(track, 0, -1, blobs_per_frame, frame_size)))
    for i in range(len(frames) - 1):
        if frames[i + 1] - frames[i] > 1:
            if _hidden_between(track, i, blobs_per_frame):
                events.append(PersistenceEvent("vanish", int(frames[i]), "occluded"))
                events.append(PersistenceEvent("appear", int(frames[i + 1]), "occluded"))
                continue
            events.append(PersistenceEvent("vanish", int(frames[i]), _cause(track, i, +1, blobs_per_frame, frame_size)))
            events.append(
                PersistenceEvent("appear", int(frames[i + 1]), _cause(track, i + 1, -1, blobs_per_frame, frame_size))
            )
    if frames[-1] < num_frames - 1:
        events.append(
            PersistenceEvent("vanish", int(frames[-1]), _cause(track, len(frames) - 1, +1, blobs_per_frame, frame_size))
        )
    # A teleport: one step much longer than the object and than the steps on either side of
    # it (near a floor bounce a fall's steps vary two- or threefold, not more). Only mostly
    # visible views count: a half-hidden object's centroid is not where the object is.
    seen = [b for b, f in zip(track.blobs, track.visible_fraction()) if f >= 0.8]
    if len(seen) >= 3:
        seen_frames = np.array([b.frame for b in seen])
        steps = np.linalg.norm(np.diff(np.array([b.center for b in seen]), axis=0), axis=-1)  # (N-1,)
        consecutive = np.diff(seen_frames) == 1
        x0, y0, x1, y1 = np.median(np.array([b.bbox for b in seen]), axis=0)
        limit = max(1.5 * max(x1 - x0, y1 - y0), 0.15 * min(width, height))
        for i in np.nonzero(consecutive & (steps > limit))[0]:
            around = [steps[j] for j in (i - 1, i + 1) if 0 <= j < len(steps) and consecutive[j]]
            if len(around) == 2 and steps[i] > 4 * max(around):
                events.append(PersistenceEvent("jump", int(seen_frames[i + 1]), None))
    # Growing or shrinking in plain view (nothing in front, nothing cut off by the edge).
    reference = track.reference_area()
    for blob in track.blobs:
        if not blob.touches_edge and not blob.touches_other and not 0.6 <= blob.area / reference <= 1.6:
            events.append(PersistenceEvent("resize", blob.frame, None))
            break
    return events
