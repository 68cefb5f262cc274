"""Image and video conditioning: which latent frames of a window are known, where they come from,
and which decoded frames go to the output.

The DiT is trained on windows of t latent frames of which some are given clean (`cond`) and
marked in a mask, drawn by `train_dit.draw_cond_mask`: the first, the first k, the last k, the
first and the last, a span, or none, with k <= t // 2. Every mode is planned here as windows of
exactly those trained shapes; the pipeline encodes the known frames, runs its one denoising loop
and decodes:

    mode               known latent frames of a window                        trained mask
    animate            0 = the image                                           first
    extend             0..k-1 = the video's last 1 + 4(k-1) frames, a fresh clip  first k
    extend --backward  t-k..t-1 = the video's first 4k frames, as groups       last k
    connect            0 = A's last frame, t-1 = B's first 4 frames, a group   first + last
    loop               a free clip, then as connect from its last frame to its first 4  none, first + last
    edit               none: SDEdit starts from the input's noised latent      none
    long generation    a free first window, then windows as extend             none, first k

Frame arithmetic of the causal VAE: latent 0 is frame 0 alone and latent j >= 1 is frames
4j-3..4j, so t latent frames decode to 1 + 4(t-1) frames. Known latent frames come from two
kinds of encoding:

- a *fresh clip* of 1 + 4(k-1) frames gives k latents whose first is its first frame alone. That is
  what every training window is (an encoded clip from its first frame), so a window that starts
  with known frames sees exactly what it was trained on;
- *groups*: 4k frames that must sit at latent positions >= 1 (the end of a window) are encoded
  behind a still copy of their first frame, `[f0, f0, f1, ..., f_{4k-1}]`, and the first latent
  (the still frame) is dropped. This is an approximation: the causal encoder sees a still past
  instead of the frames that really come before, which are the ones being generated.

Lengths that are not 1 + 4k are handled at the end away from the known frames: a window may
decode more frames than asked for, and the extra frames are trimmed there (the right end
forwards, the left end when extending backwards). A transition (connect) is whole latent frames,
4k frames, and a loop period 1 + 4k frames, rounded to the nearest.

Inputs are fitted to the model before encoding (`fit_frames`, `load_frames`): the supported size
with the nearest aspect ratio is chosen (ties: the larger), the frames are centre-cropped to that
aspect and resized with antialiased bilinear filtering (area-like when shrinking, bilinear when
enlarging); the frame rate is changed by taking, for each output time i / fps, the input frame
nearest in time (frames are dropped or repeated, never blended).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from tenku.vae import TIME_COMPRESSION

MIN_VIDEO_FRAMES = 1 + TIME_COMPRESSION
"""A video input needs its first frame and one latent frame (4 frames) after it: fewer frames
carry no motion to continue."""
SEAM_FADE_FRAMES = 8
"""Generated frames over which the difference between given pixels and their decoding is faded out."""
SEAM_GATE_LEVELS = 24.0
"""`carry_residual`'s default gate: a pixel that differs from the generated frame next to the seam by this many
8-bit levels (mean over channels) or more gets none of the residual."""


# --- frame arithmetic ---------------------------------------------------------------------------


def latent_frames_for(num_frames: int) -> int:
    """Latent frames that cover `num_frames` (the decoded video is then trimmed)."""
    return 1 + math.ceil((num_frames - 1) / TIME_COMPRESSION)


def decoded_frames(num_latents: int) -> int:
    """Frames that `num_latents` latent frames decode to: 1 + 4(t - 1)."""
    return 1 + TIME_COMPRESSION * (num_latents - 1)


def pad_frames(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) -> (1 + 4k, H, W, 3), k minimal, by repeating the last frame at the right end."""
    extra = (-(len(frames) - 1)) % TIME_COMPRESSION
    return np.concatenate([frames, np.repeat(frames[-1:], extra, axis=0)]) if extra else frames


def clip_for_groups(frames: np.ndarray) -> np.ndarray:
    """(4k, H, W, 3) -> (1 + 4k, H, W, 3): the frames behind a still copy of their first, so that
    latents 1..k of its encoding are the k groups of four (latent 0, the still frame, is dropped)."""
    assert len(frames) % TIME_COMPRESSION == 0 and len(frames) > 0, len(frames)
    return np.concatenate([frames[:1], frames])


# --- windows ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Window:
    """One pass of the denoising loop over `num_latents` latent frames."""

    num_latents: int
    known: tuple[int, ...] = ()
    """Latent frames given clean (cond_mask = 1), in increasing order."""
    keep: tuple[int, int]
    """Decoded frames [start, stop) of the window that go to the output."""
    context_frames: int = 0
    """Frames of the video so far that are encoded as the known latents (extension windows): its
    last 1 + 4(k-1) frames as a fresh clip, or with `backward` its first 4k frames as groups."""
    backward: bool = False

    def __post_init__(self) -> None:
        t = self.num_latents
        assert t >= 1, t
        assert list(self.known) == sorted(set(self.known)) and all(0 <= j < t for j in self.known), self.known
        assert 0 <= self.keep[0] < self.keep[1] <= decoded_frames(t), (self.keep, t)

    @property
    def num_decoded(self) -> int:
        return decoded_frames(self.num_latents)

    @property
    def num_output(self) -> int:
        return self.keep[1] - self.keep[0]

    def mask(self) -> torch.Tensor:
        """cond_mask (1, t): 1 for known latent frames."""
        mask = torch.zeros(1, self.num_latents)
        mask[0, list(self.known)] = 1.0
        return mask


def assemble_cond(num_latents: int, parts: dict[int, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Known latent blocks `{start: (1, C, n, h, w)}` -> cond (1, C, t, h, w) (zeros where unknown)
    and cond_mask (1, t)."""
    first = next(iter(parts.values()))
    cond = torch.zeros(1, first.shape[1], num_latents, *first.shape[3:], dtype=first.dtype)
    mask = torch.zeros(1, num_latents)
    for start, block in parts.items():
        stop = start + block.shape[2]
        assert 0 <= start and stop <= num_latents and not mask[0, start:stop].any(), (start, stop, num_latents)
        cond[:, :, start:stop] = block
        mask[0, start:stop] = 1.0
    return cond, mask


def _check_count(name: str, value: int, low: int) -> None:
    if not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def _check_fits(what: str, num_latents: int, max_latents: int) -> None:
    if num_latents > max_latents:
        raise ValueError(f"{what} needs {num_latents} latent frames ({decoded_frames(num_latents)} frames) "
                         f"in one window; this model generates at most {max_latents} "
                         f"({decoded_frames(max_latents)} frames)")


def plan_animate(num_frames: int, max_latents: int) -> Window:
    """Image to video: the image is latent 0 (a one-frame clip); output frames 0..num_frames-1."""
    _check_count("num_frames", num_frames, 2)
    t = latent_frames_for(num_frames)
    _check_fits(f"a clip of {num_frames} frames", t, max_latents)
    return Window(num_latents=t, known=(0,), keep=(0, num_frames), context_frames=1)


def plan_edit(num_frames: int, max_latents: int) -> Window:
    """SDEdit: nothing known; the input is padded to 1 + 4k frames at its end and trimmed back."""
    _check_count("num_frames", num_frames, 1)
    t = latent_frames_for(num_frames)
    _check_fits(f"a clip of {num_frames} frames", t, max_latents)
    return Window(num_latents=t, keep=(0, num_frames))


def plan_connect(num_frames: int, max_latents: int) -> Window:
    """A transition from A's last frame to B's first: latent 0 is A's last frame, latent t-1 the
    group (B0, B1, B2, B3). The output runs from decoded frame 0 (A's last) to decoded frame
    4(t-1)-3 (B0): 2 + 4(t-2) frames, the 4(t-2) in between rounded from `num_frames` - 2."""
    _check_count("num_frames", num_frames, 3)
    between = TIME_COMPRESSION * max(1, round((num_frames - 2) / TIME_COMPRESSION))
    t = 2 + between // TIME_COMPRESSION
    _check_fits(f"a transition of {between} frames between the two ends", t, max_latents)
    return Window(num_latents=t, known=(0, t - 1), keep=(0, 2 + between))


MIN_LOOP_FRAMES = 7
"""round(seconds * fps) at least this: a loop is at least a free clip of 5 frames and a transition
of 4 back into it (9 frames)."""


def plan_loop(num_frames: int, max_latents: int) -> tuple[Window, Window]:
    """A loop of period P = 1 + 4n frames (n >= 2 rounded from `num_frames`) as two windows: a free
    clip of 1 + 4j frames (j = ceil(n / 2)), then a transition (as `plan_connect`) of the other 4m
    frames from the clip's last frame back into its first four, decoded with them, so the end of
    the period leads into frame 0 as any frame leads into the next. The loop is the clip followed
    by the transition's frames in between."""
    _check_count("num_frames", num_frames, MIN_LOOP_FRAMES)
    groups = max(2, round((num_frames - 1) / TIME_COMPRESSION))
    j = math.ceil(groups / 2)
    m = groups - j
    period = 1 + TIME_COMPRESSION * groups
    _check_fits(f"a loop of {period} frames (a clip of {1 + TIME_COMPRESSION * j})", j + 1, max_latents)
    _check_fits(f"a loop of {period} frames (a transition of {TIME_COMPRESSION * m})", m + 2, max_latents)
    clip = Window(num_latents=j + 1, keep=(0, 1 + TIME_COMPRESSION * j))
    return clip, Window(num_latents=m + 2, known=(0, m + 1), keep=(0, 2 + TIME_COMPRESSION * m))


def plan_extension(
    num_input_frames: int, num_new_frames: int, *, max_latents: int, context_latents: int, backward: bool = False
) -> list[Window]:
    """Windows that add `num_new_frames` after (or with `backward`, before) a video of
    `num_input_frames`, each conditioned on k known latent frames of the video so far.

    k = min(context_latents, what the video holds, max_latents // 2): trained masks have k <= t // 2.
    A window has t = min(max_latents, max(k + new latents, 2k)) latent frames; when fewer new frames
    are needed than it makes, the ones furthest from the video are dropped.

    Forwards the known latents are the video's last 1 + 4(k-1) frames encoded as a fresh clip (latent
    0 its first frame alone, as in training) and the new frames are decoded frames 1 + 4(k-1) onwards.
    Backwards the known latents are the video's first 4k frames as groups at t-k..t-1 (see the module
    docstring), and the new frames are decoded frames up to 4(t-k), right before them."""
    _check_count("num_input_frames", num_input_frames, 1)
    _check_count("num_new_frames", num_new_frames, 1)
    _check_count("context_latents", context_latents, 1)
    _check_count("max_latents", max_latents, 2)
    windows, available, remaining = [], num_input_frames, num_new_frames
    while remaining > 0:
        if backward:
            held = available // TIME_COMPRESSION
            if held < 1:
                raise ValueError(f"extending backwards needs at least {TIME_COMPRESSION} frames, got {available}")
        else:
            held = 1 + (available - 1) // TIME_COMPRESSION
        k = min(context_latents, held, max_latents // 2)
        if backward:
            # decoded frames 0..4(t-k) are new: 1 + 4(t-k) of them
            need = max(1, math.ceil((remaining - 1) / TIME_COMPRESSION))
            t = min(max_latents, max(k + need, 2 * k))
            made = 1 + TIME_COMPRESSION * (t - k)
            new = min(remaining, made)
            window = Window(num_latents=t, known=tuple(range(t - k, t)), keep=(made - new, made),
                            context_frames=TIME_COMPRESSION * k, backward=True)
        else:
            need = math.ceil(remaining / TIME_COMPRESSION)
            t = min(max_latents, max(k + need, 2 * k))
            start = decoded_frames(k)
            new = min(remaining, TIME_COMPRESSION * (t - k))
            window = Window(num_latents=t, known=tuple(range(k)), keep=(start, start + new), context_frames=start)
        windows.append(window)
        available += new
        remaining -= new
    return windows


def plan_long(num_frames: int, *, max_latents: int, context_latents: int) -> list[Window]:
    """Text to a video of any length: one free window (the longest the model makes), then
    forward extension windows (`plan_extension`) until `num_frames` are made."""
    _check_count("num_frames", num_frames, 1)
    first = min(latent_frames_for(num_frames), max_latents)
    made = min(num_frames, decoded_frames(first))
    windows = [Window(num_latents=first, keep=(0, made))]
    if made < num_frames:
        windows += plan_extension(made, num_frames - made, max_latents=max_latents, context_latents=context_latents)
    return windows


# --- seams ----------------------------------------------------------------------------------------


def carry_residual(frames: np.ndarray, residual: np.ndarray, *, reverse: bool = False,
                   num_fade: int = SEAM_FADE_FRAMES, gate: float | None = SEAM_GATE_LEVELS) -> np.ndarray:
    """Add `residual` (H, W, 3) float to generated uint8 frames (n, H, W, 3) with a weight falling
    linearly from 1 (frame 0, or the last frame with `reverse`) to 0 over `num_fade` frames.

    Given pixels (an image, an input video) are copied to the output unchanged, while the frames
    generated next to them continue the VAE's *decoding* of those pixels; `residual` = given -
    decoded at the boundary is that difference. Carried into the generated side and faded, it turns
    a one-frame jump at the seam into steps of |residual| / num_fade.

    With `gate` (8-bit levels; None: off), each pixel's weight is also scaled by max(0, 1 - d / gate), d its mean
    absolute difference over channels from the generated frame next to the seam (frame 0, or the
    last with `reverse`), which gets the whole residual: the residual belongs to what that frame
    shows, so where a later frame has changed (an object moved away or in) it is not carried.
    Ungated, the decoding error on a moving object's outline stays behind for `num_fade` frames as a
    faint copy of that outline."""
    n = len(frames)
    weights = np.clip(1.0 - np.arange(n) / num_fade, 0.0, 1.0)  # (n,)
    if reverse:
        weights = weights[::-1]
    weights = weights.reshape(n, 1, 1, 1).astype(np.float32)
    pixels = frames.astype(np.float32)
    if gate is not None and n:
        change = np.abs(pixels - pixels[-1 if reverse else 0]).mean(-1, keepdims=True)
        weights = weights * np.clip(1.0 - change / gate, 0.0, 1.0)
    out = pixels + weights * residual[None]
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


# --- inputs ---------------------------------------------------------------------------------------


def choose_size(width: int, height: int, sizes: tuple[tuple[int, int], ...]) -> tuple[int, int]:
    """The supported (width, height) nearest in aspect ratio (log ratio); ties: the larger area."""
    aspect = math.log(width / height)
    return min(sizes, key=lambda s: (round(abs(math.log(s[0] / s[1]) - aspect), 9), -s[0] * s[1]))


def fit_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Centre-crop uint8 (T, H, W, 3) to the aspect of `size` = (width, height) and resize to it
    (antialiased bilinear). Frames already of that size are returned unchanged."""
    width, height = size
    _, h, w, _ = frames.shape
    if (w, h) == (width, height):
        return frames
    if w * height > h * width:  # too wide: crop columns
        crop_w, crop_h = max(1, round(h * width / height)), h
    else:
        crop_w, crop_h = w, max(1, round(w * height / width))
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    frames = frames[:, top : top + crop_h, left : left + crop_w]
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()  # (T, 3, h, w)
    x = F.interpolate(x, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()  # (T, H, W, 3)


def resample_indices(num_frames: int, fps_in: float, fps_out: float) -> np.ndarray:
    """Input frame for each output frame: frame i (time i / fps_out) takes the input frame nearest
    in time, round(i * fps_in / fps_out), for every i up to the input's last frame."""
    ratio = fps_in / fps_out
    count = int(math.floor((num_frames - 1 + 0.5) / ratio - 1e-9)) + 1
    return np.minimum(np.floor(np.arange(count) * ratio + 0.5 + 1e-9).astype(np.int64), num_frames - 1)


def conform_frames(frames: np.ndarray, fps_in: float, fps: float, size: tuple[int, int]) -> np.ndarray:
    """An in-memory uint8 (T, H, W, 3) video at `fps_in` -> the model's `fps` and `size`."""
    if abs(fps_in - fps) > 1e-6 * fps:
        frames = frames[resample_indices(len(frames), fps_in, fps)]
    return fit_frames(frames, size)


def check_frames(frames, what: str) -> np.ndarray:
    """Accept uint8 (T, H, W, 3) or one image (H, W, 3); return (T, H, W, 3)."""
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or 0 in frames.shape:
        raise ValueError(f"{what} must be a uint8 RGB array (T, H, W, 3) or (H, W, 3), got {frames.dtype} {frames.shape}")
    return frames


def load_frames(
    path: str | os.PathLike,
    *,
    fps: float,
    sizes: tuple[tuple[int, int], ...],
    size: tuple[int, int] | None = None,
    max_frames: int | None = None,
) -> np.ndarray:
    """Read a video or image file as uint8 (T, H, W, 3) at `fps` and a supported size, streaming:
    only the frames kept are resized and held. `size` None: `choose_size` from the file's aspect.
    `max_frames` stops after that many output frames. Images are one frame.

    Unreadable or missing files raise ValueError / FileNotFoundError naming the file (tenku.io)."""
    from tenku.io import iter_video, probe_video

    info = probe_video(path)
    size = size or choose_size(info.width, info.height, sizes)
    ratio = info.fps / fps if info.num_frames > 1 else 1.0
    kept, index, next_out = [], 0, 0
    for chunk in iter_video(path, chunk_frames=16):
        picks = []
        for frame in chunk:
            # output frame i takes input frame round(i * ratio); emit every i that lands here
            while math.floor(next_out * ratio + 0.5 + 1e-9) <= index and (max_frames is None or next_out < max_frames):
                picks.append(frame)
                next_out += 1
            index += 1
        if picks:
            kept.append(fit_frames(np.stack(picks), size))
        if max_frames is not None and next_out >= max_frames:
            break
    if not kept:
        raise ValueError(f"{Path(path)}: no frames could be read")
    return np.concatenate(kept)
