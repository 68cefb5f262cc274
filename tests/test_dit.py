from dataclasses import replace

import pytest
import torch

from tenku.dit import DiT, DiTConfig, dit_1b, dit_small, dit_tiny


def make_inputs(config, batch=2, latent=(3, 8, 6), text_len=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x_t = torch.randn(batch, config.in_channels, *latent, generator=g)
    t = torch.rand(batch, generator=g)
    text = torch.randn(batch, text_len, config.text_dim, generator=g)
    text_mask = torch.ones(batch, text_len, dtype=torch.bool)
    text_mask[-1, text_len // 2 :] = False  # one padded prompt
    return x_t, t, text, text_mask


def trained(model, seed=1):
    """Give every weight a random value, as if trained: the zero-inits hide most of the model."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not name.startswith("cond_embed"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return model


def test_each_block_is_identity_at_init():
    torch.manual_seed(0)
    model = DiT(dit_tiny())
    x = torch.randn(2, 12, 64)
    c = torch.randn(2, 64)
    text = torch.randn(2, 5, 64)
    mask = torch.ones(2, 5, dtype=torch.bool)
    rope = (torch.randn(12, 8), torch.randn(12, 8))
    for block in model.blocks:
        assert torch.equal(block(x, c, text, mask, rope), x)


def test_model_outputs_zero_at_init():
    model = DiT(dit_tiny())
    v = model(*make_inputs(model.config))
    assert v.shape == (2, 4, 3, 8, 6)
    assert torch.equal(v, torch.zeros_like(v))


def test_conditioning_branch_is_zero_at_init():
    model = trained(DiT(dit_tiny()))
    x_t, t, text, mask = make_inputs(model.config)
    cond = torch.randn_like(x_t)
    cond_mask = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    plain = model(x_t, t, text, mask)
    assert plain.abs().max() > 0
    torch.testing.assert_close(model(x_t, t, text, mask, cond, cond_mask), plain, rtol=0, atol=0)
    torch.testing.assert_close(model(x_t, t, text, mask, cond, cond_mask[:, None, :, None, None]), plain, rtol=0, atol=0)


def test_skip_attention_leaves_out_the_named_blocks_self_attention():
    model = trained(DiT(dit_tiny())).eval()
    inputs = make_inputs(model.config)
    full = model(*inputs)
    skipped = model(*inputs, skip_attention=(1,))
    assert not torch.allclose(skipped, full)
    # the same as a block whose self-attention output is zero
    with torch.no_grad():
        model.blocks[1].attn.proj.weight.zero_()
        model.blocks[1].attn.proj.bias.zero_()
    torch.testing.assert_close(model(*inputs), skipped)
    with pytest.raises(ValueError, match="skip_attention must list blocks 0..1"):
        model(*inputs, skip_attention=(2,))


def test_conditioning_arguments_are_checked():
    model = DiT(dit_tiny())
    x_t, t, text, mask = make_inputs(model.config)
    with pytest.raises(ValueError, match="together"):
        model(x_t, t, text, mask, cond=x_t)
    with pytest.raises(ValueError, match="cond_mask"):
        model(x_t, t, text, mask, x_t, torch.ones(2, 4))
    with pytest.raises(ValueError, match="conditioning=False"):
        DiT(dit_tiny(conditioning=False))(x_t, t, text, mask, x_t, torch.ones(2, 3))
    with pytest.raises(ValueError, match="at least one True"):
        model(x_t, t, text, torch.zeros_like(mask))


@pytest.mark.parametrize(
    "latent, patch_size",
    [((1, 8, 8), (1, 2, 2)), ((5, 4, 10), (1, 2, 2)), ((2, 6, 4), (2, 2, 2)), ((3, 3, 5), (1, 1, 1))],
)
def test_output_shape(latent, patch_size):
    model = trained(DiT(dit_tiny(patch_size=patch_size)))
    x_t, t, text, mask = make_inputs(model.config, latent=latent)
    v = model(x_t, t, text, mask)
    assert v.shape == x_t.shape and torch.isfinite(v).all()


def test_bf16_autocast_forward_and_backward():
    model = trained(DiT(dit_tiny()))
    inputs = make_inputs(model.config)
    reference = model(*inputs)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        v = model(*inputs, cond=inputs[0], cond_mask=torch.ones(2, 3))
    assert v.dtype == torch.float32 and v.shape == reference.shape
    torch.testing.assert_close(v, reference, rtol=0.1, atol=0.1 * reference.abs().max().item())
    v.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_gradients_reach_every_block_after_one_step():
    torch.manual_seed(0)
    model = DiT(dit_tiny())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x_t, t, text, mask = make_inputs(model.config)
    target = torch.randn_like(x_t)
    gate = model.blocks[0].adaLN_modulation[-1].weight
    for step in range(2):
        optimizer.zero_grad()
        (model(x_t, t, text, mask) - target).square().mean().backward()
        assert model.final.linear.weight.grad.abs().max() > 0
        # the zero output layer hides the blocks at first; one step later their gates learn
        assert (gate.grad.abs().max() > 0) == (step == 1)
        optimizer.step()
        assert model(x_t, t, text, mask).abs().max() > 0


def test_gradient_checkpointing_gives_the_same_gradients():
    grads = []
    for flag in (False, True):
        model = trained(DiT(dit_tiny(gradient_checkpointing=flag)))
        model(*make_inputs(model.config)).square().sum().backward()
        grads.append([p.grad for p in model.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_invariant_to_text_padding_and_time_translation():
    model = trained(DiT(dit_tiny()))
    x_t, t, text, mask = make_inputs(model.config)
    v = model(x_t, t, text, mask)
    padded_text = torch.cat([text, torch.randn(2, 3, text.shape[2])], dim=1)
    padded_mask = torch.cat([mask, torch.zeros(2, 3, dtype=torch.bool)], dim=1)
    torch.testing.assert_close(model(x_t, t, padded_text, padded_mask), v, rtol=1e-4, atol=1e-5)
    # RoPE is the only position signal, so a window placed later in time sees the same relations
    torch.testing.assert_close(model(x_t, t, text, mask, frame_offset=7.0), v, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(model(x_t, t, text, mask, frame_offset=torch.tensor([2.0, 9.0])), v, rtol=1e-4, atol=1e-4)


def test_config_validation():
    with pytest.raises(ValueError, match="divisible"):
        DiTConfig(width=64, num_heads=5)
    with pytest.raises(ValueError, match="even"):
        DiTConfig(width=66, num_heads=6)  # head_dim 11
    with pytest.raises(ValueError, match="patch_size"):
        DiTConfig(patch_size=(1, 2))
    with pytest.raises(ValueError, match="rope_axes"):
        DiTConfig(width=384, num_heads=6, rope_axes=(16, 16, 16))
    with pytest.raises(ValueError, match="depth"):
        DiTConfig(depth=0)
    with pytest.raises(TypeError):
        DiTConfig(384)  # keyword-only


def test_preset_sizes():
    with torch.device("meta"):
        small, big = DiT(dit_small()), DiT(dit_1b())
    assert 10e6 < small.num_params() < 30e6
    assert 0.9e9 < big.num_params() < 1.2e9


def test_explicit_cpu_attention_matches_the_fused_kernel(monkeypatch):
    import tenku.dit

    model = trained(DiT(dit_tiny()))
    inputs = make_inputs(model.config)
    explicit = model(*inputs)
    monkeypatch.setattr(tenku.dit, "MAX_EXPLICIT_SCORES", 0)  # every call takes scaled_dot_product_attention
    torch.testing.assert_close(model(*inputs), explicit, rtol=1e-4, atol=1e-5)


def _recut(old_config):
    from dataclasses import replace

    from tenku.dit import repatch_state_dict

    old = trained(DiT(old_config))
    with torch.no_grad():
        old.cond_embed.weight.normal_(0, 0.05)
    new_config = replace(old_config, patch_size=(1, 1, 1), rope_space_scale=old_config.rope_space_scale / 2)
    new = DiT(new_config)
    new.load_state_dict(repatch_state_dict(old.state_dict(), old_config, new_config))
    return old, new


def test_recut_patches_embed_and_project_like_the_old_patch():
    from tenku.patches import patchify

    old, new = _recut(dit_tiny(patch_size=(1, 2, 2)))
    x = torch.randn(2, new.config.in_channels, 3, 4, 6)  # (B, C, T, H, W)
    up = x.repeat_interleave(2, dim=3).repeat_interleave(2, dim=4)  # each value fills an old 2x2 patch
    # a new token's embedding is the old embedding of a patch filled with its values
    torch.testing.assert_close(new.x_embed(patchify(x, (1, 1, 1))), old.x_embed(patchify(up, (1, 2, 2))))
    cond = torch.cat([x, torch.ones_like(x[:, :1])], 1)
    torch.testing.assert_close(new.cond_embed(patchify(cond, (1, 1, 1))),
                               old.cond_embed(patchify(torch.cat([up, torch.ones_like(up[:, :1])], 1), (1, 2, 2))))
    # a new token's output is the mean of its old patch's outputs
    hidden = torch.randn(2, 5, new.config.width)
    old_out = old.final.linear(hidden).unflatten(-1, (4, -1)).mean(2)  # (B, N, C)
    torch.testing.assert_close(new.final.linear(hidden), old_out)


def test_recut_model_runs_on_four_times_the_tokens():
    old, new = _recut(dit_tiny(patch_size=(1, 2, 2)))
    x_t, t, text, text_mask = make_inputs(old.config, latent=(3, 8, 6))
    with torch.no_grad():
        a, b = old(x_t, t, text, text_mask), new(x_t, t, text, text_mask)
    assert b.shape == a.shape and torch.isfinite(b).all()
    c, d = old.config.in_channels, old.config.width
    # only the patch-sized layers shrink: x_embed and cond_embed by 3/4 of their inputs, the output by 3/4
    assert new.num_params() == old.num_params() - 3 * c * d - 3 * (c + 1) * d - 3 * c * (d + 1)


def test_recut_refuses_what_it_cannot_map():
    from dataclasses import replace

    from tenku.dit import repatch_state_dict

    old_config = dit_tiny(patch_size=(1, 2, 2))
    state = DiT(old_config).state_dict()
    with pytest.raises(ValueError, match="rope_space_scale 0.5"):
        repatch_state_dict(state, old_config, replace(old_config, patch_size=(1, 1, 1)))
    with pytest.raises(ValueError, match="smaller spatial patches"):
        repatch_state_dict(state, old_config, replace(old_config, patch_size=(1, 1, 2), rope_space_scale=0.5))
    with pytest.raises(ValueError, match="must match the old one"):
        repatch_state_dict(state, old_config, replace(old_config, patch_size=(1, 1, 1), rope_space_scale=0.5, depth=3))


def test_deepened_model_computes_what_the_old_one_did():
    from tenku.dit import deepen_state_dict

    old_config = dit_tiny()
    old = trained(DiT(old_config))
    new_config = replace(old_config, depth=old_config.depth + 3)
    new = DiT(new_config)
    new.load_state_dict(deepen_state_dict(old.state_dict(), old_config, new_config))
    inputs = make_inputs(old_config, latent=(3, 4, 4))
    with torch.no_grad():
        torch.testing.assert_close(new(*inputs), old(*inputs))
    # the added blocks are the identity by their zeroed modulation, not by being empty copies
    added = [b for b in new.blocks if not b.adaLN_modulation[1].weight.any()]
    assert len(added) == 3 and all(b.mlp[0].weight.any() for b in added)
    # ...and training opens them: one step gives every added gate a gradient
    loss = new(*inputs).square().mean()
    loss.backward()
    assert all(b.adaLN_modulation[1].weight.grad.any() for b in added)


def test_deepen_refuses_what_it_cannot_map():
    from tenku.dit import deepen_state_dict

    config = dit_tiny()
    state = DiT(config).state_dict()
    with pytest.raises(ValueError, match="can only deepen"):
        deepen_state_dict(state, config, replace(config, depth=config.depth - 1))
    with pytest.raises(ValueError, match="everything but depth"):
        deepen_state_dict(state, config, replace(config, depth=config.depth + 1, width=config.width * 2))
