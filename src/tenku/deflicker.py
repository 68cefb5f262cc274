"""Ramping the small steps a decoded video takes between latent groups.

The VAE decodes each latent frame into a group of four video frames (frame 0 alone). Within a group
the frames share one latent, so they agree closely; between groups, latents drawn by the
transformer differ in small ways the encoder's latents of a real video would not (a background a
level or two lighter, a texture shifted), and the decoded video steps at every fourth frame: a
faint 2 Hz pulse at 8 fps, strongest in still scenes. Measured on 16 generated 2 s clips (session
46), in pixels that stay still the mean step across group boundaries was 2.32x the step inside
groups (1.12x after the ramp); round trips of the world's own videos through the VAE show about
1.06x over all pixels.

`ramp_group_steps` replaces each such step by a linear ramp between group centres: frame f of
group g gets a(f) (M_h - M_g) added, M the per-pixel group means, h the neighbouring group on f's
side of g's centre and a(f) the fraction of the way from g's centre to h's. Frame 0 is group 0's
centre, so it is unchanged. The ramp is gated per pixel by how little the two group means differ
(weight max(0, 1 - |M_h - M_g| / gate)), so it smooths flicker in what stays still and leaves
moving objects, whose group means differ by far more than a flicker, where the decoder drew them.
"""

import torch

from tenku.vae import TIME_COMPRESSION

LEVEL = 2.0 / 255.0
"""One 8-bit level in the decoder's [-1, 1] range."""


def group_centres(num_frames: int, group: int = TIME_COMPRESSION) -> list[float]:
    """Frame index of each latent group's centre for a video of 1 + group * k frames: 0, then
    group * g - (group - 1) / 2 for g = 1..k."""
    assert num_frames >= 1 and (num_frames - 1) % group == 0, num_frames
    return [0.0] + [group * g - (group - 1) / 2 for g in range(1, (num_frames - 1) // group + 1)]


def ramp_group_steps(video: torch.Tensor, gate: float, group: int = TIME_COMPRESSION) -> torch.Tensor:
    """Video (..., C, T, H, W) in [-1, 1] with T = 1 + group * k, as decoded -> the same with the
    steps between its latent groups turned into ramps where the group means differ by less than
    `gate` 8-bit levels (mean over channels). A one-frame video is returned unchanged."""
    num_frames = video.shape[-3]
    centres = group_centres(num_frames, group)
    if len(centres) == 1:
        return video
    members = [video[..., :1, :, :]] + [video[..., 1 + group * (g - 1): 1 + group * g, :, :]
                                        for g in range(1, len(centres))]
    means = [m.mean(dim=-3) for m in members]  # each (..., C, H, W)
    steps = []  # gated step from group g to g + 1, once per boundary: (..., C, H, W)
    for lower, upper in zip(means, means[1:]):
        delta = upper - lower
        steps.append(delta * (1.0 - delta.abs().mean(dim=-3, keepdim=True) / (gate * LEVEL)).clamp(min=0.0))
    out = video.clone()
    for f in range(1, num_frames):
        g = (f - 1) // group + 1
        h = g - 1 if f < centres[g] else g + 1
        if h >= len(centres):  # past the last group's centre: nothing to ramp towards
            continue
        a = (f - centres[g]) / (centres[h] - centres[g])
        out[..., f, :, :] += a * (steps[g] if h > g else -steps[h])
    return out
