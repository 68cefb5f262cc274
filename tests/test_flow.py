import math

import pytest
import torch

from tenku.flow import FlowSchedule, time_shift


def test_add_noise_and_velocity_are_consistent():
    g = torch.Generator().manual_seed(0)
    x_0, noise = torch.randn(4, 3, 2, 4, 4, generator=g), torch.randn(4, 3, 2, 4, 4, generator=g)
    t = torch.tensor([0.0, 0.25, 0.7, 1.0])
    x_t = FlowSchedule.add_noise(x_0, noise, t)
    v = FlowSchedule.velocity(x_0, noise)
    torch.testing.assert_close(x_t[0], x_0[0], rtol=0, atol=0)
    torch.testing.assert_close(x_t[3], noise[3], rtol=0, atol=0)
    torch.testing.assert_close(FlowSchedule.x0_from_v(x_t, v, t), x_0, rtol=0, atol=1e-6)
    torch.testing.assert_close(FlowSchedule.noise_from_v(x_t, v, t), noise, rtol=0, atol=1e-6)
    # v is the time derivative of the path
    dt = 1e-3
    torch.testing.assert_close((FlowSchedule.add_noise(x_0, noise, t + dt) - x_t) / dt, v, rtol=0, atol=1e-3)


def test_time_shift_is_monotonic_fixes_ends_and_is_identity_at_one():
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    torch.testing.assert_close(time_shift(t, 1.0), t)
    for s in (0.3, 2.0, 7.5):
        shifted = time_shift(t, s)
        assert (shifted[1:] > shifted[:-1]).all()
        assert shifted[0] == 0 and shifted[-1] == 1
        assert ((shifted > t)[1:-1] == (s > 1)).all()  # s > 1 moves times towards noise
    with pytest.raises(ValueError):
        time_shift(t, 0.0)


def test_shift_grows_with_tokens():
    schedule = FlowSchedule(base_tokens=256)
    assert schedule.shift(256) == 1.0
    assert schedule.shift(1024) == 2.0
    assert schedule.shift(64) == 0.5
    assert FlowSchedule(fixed_shift=3.0).shift(10) == 3.0


def test_sample_t_is_seeded_logit_normal_then_shifted():
    schedule = FlowSchedule(logit_mean=0.0, logit_std=1.0, base_tokens=100)
    t = schedule.sample_t(20000, 100, generator=torch.Generator().manual_seed(0))
    assert torch.equal(t, schedule.sample_t(20000, 100, generator=torch.Generator().manual_seed(0)))
    assert 0 < t.min() and t.max() < 1
    logits = torch.logit(t.double())
    assert abs(logits.mean()) < 0.03 and abs(logits.std() - 1) < 0.03
    shifted = schedule.sample_t(20000, 400, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(shifted, time_shift(t, 2.0))


def test_timesteps_run_from_noise_to_data():
    schedule = FlowSchedule(base_tokens=64)
    ts = schedule.timesteps(10, 256)
    assert ts.shape == (11,) and ts[0] == 1 and ts[-1] == 0
    assert (ts[1:] < ts[:-1]).all()
    torch.testing.assert_close(ts, time_shift(torch.linspace(1, 0, 11), 2.0))
    with pytest.raises(ValueError):
        schedule.timesteps(0, 256)


def test_loss_weight_and_mask():
    g = torch.Generator().manual_seed(0)
    x_0, noise = torch.randn(2, 3, 4, 2, 2, generator=g), torch.randn(2, 3, 4, 2, 2, generator=g)
    v = FlowSchedule.velocity(x_0, noise)
    assert FlowSchedule.loss(v, x_0, noise) == 0
    wrong = v + 1.0
    assert math.isclose(FlowSchedule.loss(wrong, x_0, noise).item(), 1.0, rel_tol=1e-6)
    assert math.isclose(FlowSchedule.loss(wrong, x_0, noise, weight=torch.tensor([1.0, 3.0])).item(), 2.0, rel_tol=1e-6)
    # errors only on the masked-out (known) frames do not count
    known = torch.tensor([[1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])[:, None, :, None, None]
    off_known = v + 5.0 * known
    assert FlowSchedule.loss(off_known, x_0, noise, mask=1 - known) == 0


def test_schedule_validation():
    with pytest.raises(ValueError):
        FlowSchedule(logit_std=0)
    with pytest.raises(ValueError):
        FlowSchedule(base_tokens=0)
    with pytest.raises(ValueError):
        FlowSchedule(fixed_shift=-1.0)
