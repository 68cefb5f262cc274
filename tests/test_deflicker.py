import pytest
import torch

from tenku.deflicker import LEVEL, group_centres, ramp_group_steps


def grouped(values, size=(2, 2)):
    """(3, 1 + 4k, H, W): every frame of latent group g filled with values[g] (frame 0 is group 0)."""
    per_frame = [values[0]] + [v for v in values[1:] for _ in range(4)]
    return torch.tensor(per_frame).view(1, -1, 1, 1).expand(3, -1, *size).clone()


def test_centres():
    assert group_centres(1) == [0.0]
    assert group_centres(9) == [0.0, 2.5, 6.5]
    with pytest.raises(AssertionError):
        group_centres(8)


def test_steps_become_a_ramp_between_centres():
    levels = [0.0, 2.0, 6.0, 4.0]  # 8-bit levels, under the gate
    video = grouped([v * LEVEL for v in levels])
    out = ramp_group_steps(video, gate=1e6)[0, :, 0, 0] / LEVEL  # (13,), every step under the gate
    assert out[0] == pytest.approx(0.0)  # frame 0 is group 0's centre
    # Between group 1's centre (2.5) and group 2's (6.5) each frame steps a quarter of 6 - 2.
    for f in range(3, 6):
        assert float(out[f + 1] - out[f]) == pytest.approx(1.0, abs=1e-4)
    # Frames 1, 2 ramp from frame 0 (centre 0) to group 1's mean at 2.5.
    assert [float(v) for v in out[1:3]] == pytest.approx([0.8, 1.6], abs=1e-4)
    # Past the last group's centre (10.5) there is nothing to ramp towards.
    assert [float(v) for v in out[11:]] == pytest.approx([4.0, 4.0], abs=1e-4)
    # Group 3's first half ramps from group 2's level (6) towards its own (4): 4.75, 4.25.
    assert [float(v) for v in out[9:11]] == pytest.approx([4.75, 4.25], abs=1e-4)


def test_gate_leaves_large_changes_alone():
    video = grouped([0.0, 0.0, 0.5, 0.5])  # group means differ by ~64 levels: motion, not flicker
    assert torch.equal(ramp_group_steps(video, gate=16.0), video)
    partial = ramp_group_steps(grouped([0.0, 0.0, 8 * LEVEL, 8 * LEVEL]), gate=16.0)[0, :, 0, 0] / LEVEL
    assert float(partial[4] - partial[3]) == pytest.approx(0.5 * 8 / 4, abs=1e-4)  # weight 1 - 8/16


def test_one_frame_and_batched():
    image = torch.rand(3, 1, 4, 4)
    assert ramp_group_steps(image, gate=16.0) is image
    video = torch.rand(2, 3, 9, 4, 4)
    out = ramp_group_steps(video, gate=16.0)
    assert out.shape == video.shape
    assert torch.allclose(out[1], ramp_group_steps(video[1], gate=16.0))
