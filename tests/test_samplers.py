import pytest
import torch

from tenku.dit import DiT, dit_tiny
from tenku.flow import FlowSchedule
from tenku.samplers import cfg_denoiser, sample_euler, sample_heun

from test_dit import make_inputs, trained


def point_mass(x0_star):
    """The exact velocity when all data is x0*: x_t = (1 - t) x0* + t eps gives v = (x_t - x0*) / t."""
    return lambda x, t: (x - x0_star) / t.reshape(-1, *[1] * (x.ndim - 1))


def gaussian(mu, s):
    """Exact velocity for data N(mu, s^2) and noise N(0, 1): x_t = m_t + sigma_t z with m_t = (1-t) mu,
    sigma_t^2 = (1-t)^2 s^2 + t^2, so v = -mu + (sigma_t' / sigma_t)(x - m_t)."""

    def v(x, t):
        t = t.reshape(-1, *[1] * (x.ndim - 1))
        var = (1 - t) ** 2 * s**2 + t**2
        return -mu + (t - (1 - t) * s**2) / var * (x - (1 - t) * mu)

    return v


@pytest.mark.parametrize("sampler", [sample_euler, sample_heun])
@pytest.mark.parametrize("num_steps, num_tokens", [(1, 256), (3, 256), (10, 4096), (25, 16)])
def test_point_mass_is_reached_exactly(sampler, num_steps, num_tokens):
    g = torch.Generator().manual_seed(0)
    x0_star = torch.randn(1, 4, 3, 5, 5, generator=g)
    noise = torch.randn(2, 4, 3, 5, 5, generator=g)
    ts = FlowSchedule(base_tokens=256).timesteps(num_steps, num_tokens)
    out = sampler(point_mass(x0_star), noise, ts)
    torch.testing.assert_close(out, x0_star.expand_as(out), rtol=0, atol=1e-5)


def test_heun_beats_euler_on_gaussians():
    mu, s = 2.0, 0.5
    z = torch.randn(1000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    exact = mu + s * z  # the ODE maps noise z to mu + s z
    ts = torch.linspace(1, 0, 9, dtype=torch.float64)
    euler_error = (sample_euler(gaussian(mu, s), z, ts) - exact).abs().max()
    heun_error = (sample_heun(gaussian(mu, s), z, ts) - exact).abs().max()
    assert heun_error < euler_error / 4
    fine = sample_heun(gaussian(mu, s), z, torch.linspace(1, 0, 201, dtype=torch.float64))
    torch.testing.assert_close(fine, exact, rtol=0, atol=1e-3)


def test_callback_sees_every_step():
    seen = []
    ts = torch.linspace(1, 0, 5)
    sample_heun(point_mass(torch.zeros(1, 2)), torch.ones(1, 2), ts, callback=seen.append)
    assert [info["i"] for info in seen] == [0, 1, 2, 3]
    torch.testing.assert_close(seen[0]["x0"], torch.zeros(1, 2))  # exact field: exact preview


def test_timesteps_must_decrease():
    with pytest.raises(ValueError, match="decrease"):
        sample_euler(point_mass(torch.zeros(1)), torch.ones(1), torch.tensor([0.0, 1.0]))


def guided_setup():
    model = trained(DiT(dit_tiny()).eval())
    x_t, _, text, mask = make_inputs(model.config, text_len=6)
    null_text = torch.randn(2, 2, text.shape[2])  # shorter than the prompts: padded when batched
    null_mask = torch.ones(2, 2, dtype=torch.bool)
    cond_args = {"text": text, "text_mask": mask}
    uncond_args = {"text": null_text, "text_mask": null_mask}
    return model, x_t, cond_args, uncond_args


def test_cfg_batches_cond_and_uncond():
    model, x, cond_args, uncond_args = guided_setup()
    t = torch.full((2,), 0.6)
    with torch.no_grad():
        v_cond, v_uncond = model(x, t, **cond_args), model(x, t, **uncond_args)
        torch.testing.assert_close(cfg_denoiser(model, cond_args, uncond_args, 1.0)(x, t), v_cond)
        guided = cfg_denoiser(model, cond_args, uncond_args, 3.0)(x, t)
    torch.testing.assert_close(guided, v_uncond + 3.0 * (v_cond - v_uncond), rtol=1e-4, atol=1e-5)


def weak_setup() -> DiT:
    """A weak model for autoguidance: another tiny network over the same inputs."""
    torch.manual_seed(3)
    weak = DiT(dit_tiny()).eval()
    for p in weak.parameters():
        p.data.add_(0.02 * torch.randn_like(p))
    return weak


def test_autoguidance_moves_away_from_the_weak_model():
    model, x, cond_args, uncond_args = guided_setup()
    weak = weak_setup()
    t = torch.full((2,), 0.6)
    with torch.no_grad():
        v_cond, v_uncond, v_weak = model(x, t, **cond_args), model(x, t, **uncond_args), weak(x, t, **cond_args)
        assert not torch.allclose(v_cond, v_weak)
        for guidance, base in ((3.0, v_uncond + 3.0 * (v_cond - v_uncond)), (1.0, v_cond)):
            auto = cfg_denoiser(model, cond_args, uncond_args, guidance, weak=weak, weak_weight=0.5)(x, t)
            torch.testing.assert_close(auto, base + 0.5 * (v_cond - v_weak), rtol=1e-4, atol=1e-5)
            # weight 0 is plain classifier-free guidance, with or without a weak model
            torch.testing.assert_close(cfg_denoiser(model, cond_args, uncond_args, guidance, weak=weak)(x, t),
                                       cfg_denoiser(model, cond_args, uncond_args, guidance)(x, t))
    with pytest.raises(ValueError, match="needs a weak model"):
        cfg_denoiser(model, cond_args, uncond_args, 3.0, weak_weight=0.5)
    with pytest.raises(ValueError, match="weak_weight must be >= 0"):
        cfg_denoiser(model, cond_args, uncond_args, 3.0, weak=weak, weak_weight=-1.0)


def test_autoguidance_acts_only_from_noise_down_to_weak_until():
    """weak_until 0.5: the weak model's term at t = 0.6 and 0.5, and plain guidance (the weak model never
    called) at t = 0.4; a window outside [0, 1] is refused."""
    model, x, cond_args, uncond_args = guided_setup()
    weak = weak_setup()
    calls = []

    def counted(*args, **kwargs):
        calls.append(float(args[1].max()))
        return weak(*args, **kwargs)

    with torch.no_grad():
        windowed = cfg_denoiser(model, cond_args, uncond_args, 3.0, weak=counted, weak_weight=0.5, weak_until=0.5)
        always = cfg_denoiser(model, cond_args, uncond_args, 3.0, weak=weak, weak_weight=0.5)
        plain = cfg_denoiser(model, cond_args, uncond_args, 3.0)
        for time in (0.6, 0.5):
            t = torch.full((2,), time)
            torch.testing.assert_close(windowed(x, t), always(x, t))
            assert not torch.allclose(windowed(x, t), plain(x, t))
        t = torch.full((2,), 0.4)
        torch.testing.assert_close(windowed(x, t), plain(x, t))
    assert 0.4 not in calls and len(calls) == 4
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="weak_until must lie in"):
            cfg_denoiser(model, cond_args, uncond_args, 3.0, weak=weak, weak_weight=0.5, weak_until=bad)


def test_context_guidance_moves_towards_what_the_known_frames_add():
    """plain_args (the unconditional arguments without the known frames) and plain_weight b: the result
    is classifier-free guidance plus b (v_u - v_plain), all halves in one batched call."""
    model, x, cond_args, uncond_args = guided_setup()
    with torch.no_grad():  # (trained() leaves the zero-initialised known-frame projection at zero)
        model.cond_embed.weight.normal_(0.0, 0.05, generator=torch.Generator().manual_seed(4))
    known = {"cond": torch.randn_like(x), "cond_mask": torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])}
    cond_args, uncond_args = {**cond_args, **known}, {**uncond_args, **known}
    plain_args = {**uncond_args, "cond": torch.zeros_like(x), "cond_mask": torch.zeros(2, 3)}
    t = torch.full((2,), 0.7)
    calls = []

    def counted(x, t, **kwargs):
        calls.append(x.shape[0])
        return model(x, t, **kwargs)

    with torch.no_grad():
        v_cond, v_uncond, v_plain = (model(x, t, **a) for a in (cond_args, uncond_args, plain_args))
        assert not torch.allclose(v_uncond, v_plain)  # the known frames change the prediction
        for guidance, base in ((3.0, v_uncond + 3.0 * (v_cond - v_uncond)), (1.0, v_cond)):
            both = cfg_denoiser(counted, cond_args, uncond_args, guidance, plain_args=plain_args, plain_weight=0.5)(x, t)
            torch.testing.assert_close(both, base + 0.5 * (v_uncond - v_plain), rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(cfg_denoiser(model, cond_args, uncond_args, guidance, plain_args=plain_args)(x, t),
                                       cfg_denoiser(model, cond_args, uncond_args, guidance)(x, t))
    assert calls == [6, 6]  # three halves of batch 2, one call each time
    with pytest.raises(ValueError, match="needs plain_args"):
        cfg_denoiser(model, cond_args, uncond_args, 3.0, plain_weight=0.5)
    with pytest.raises(ValueError, match="plain_weight must be >= 0"):
        cfg_denoiser(model, cond_args, uncond_args, 3.0, plain_args=plain_args, plain_weight=-1.0)
    with pytest.raises(ValueError, match="plain_args needs the keys of cond_args"):
        cfg_denoiser(model, cond_args, uncond_args, 3.0, plain_args={"text": x}, plain_weight=0.5)


def test_same_seed_same_sample():
    model, x, cond_args, uncond_args = guided_setup()
    denoiser = cfg_denoiser(model, cond_args, uncond_args, 4.0)
    ts = FlowSchedule().timesteps(3, 48)

    def sample(seed):
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
        return sample_heun(denoiser, noise, ts)

    first = sample(7)
    assert torch.equal(first, sample(7))
    assert not torch.allclose(first, sample(8))


@pytest.mark.parametrize("sampler", [sample_euler, sample_heun])
def test_refine_moves_the_state_before_each_step(sampler):
    ts = torch.linspace(1, 0, 5)
    noise = torch.randn(1, 3, generator=torch.Generator().manual_seed(0))
    field = point_mass(torch.zeros(1, 3))
    times = []

    def identity(x, t):
        times.append(float(t[0]))
        return x

    torch.testing.assert_close(sampler(field, noise, ts, refine=identity), sampler(field, noise, ts))
    assert times == pytest.approx(ts[:-1].tolist())
    # under a still field (v = 0) the result is the noise plus every move refine made
    still = lambda x, t: torch.zeros_like(x)  # noqa: E731
    moved = sampler(still, noise, ts, refine=lambda x, t: x + 0.5 if float(t[0]) > 0.3 else x)
    torch.testing.assert_close(moved, noise + 1.5)  # steps at t = 1, 0.75 and 0.5
