import pytest
import torch

from tenku.patches import (
    apply_rope,
    default_rope_axes,
    grid_positions,
    patch_grid,
    patchify,
    rope_3d,
    rope_from_positions,
    unpatchify,
)


@pytest.mark.parametrize(
    "shape, patch_size",
    [
        ((2, 16, 5, 8, 12), (1, 2, 2)),
        ((1, 4, 1, 6, 10), (1, 2, 2)),  # a single latent frame: an image
        ((2, 3, 4, 6, 9), (2, 3, 3)),
        ((1, 2, 3, 4, 5), (1, 1, 1)),
        ((1, 4, 6, 4, 8), (3, 4, 2)),
    ],
)
def test_patchify_round_trip_is_exact(shape, patch_size):
    x = torch.randn(shape)
    tokens = patchify(x, patch_size)
    grid = patch_grid(shape[2:], patch_size)
    pt, ph, pw = patch_size
    assert tokens.shape == (shape[0], grid[0] * grid[1] * grid[2], shape[1] * pt * ph * pw)
    assert torch.equal(unpatchify(tokens, patch_size, grid), x)


def test_tokens_are_time_major_patches():
    x = torch.randn(1, 3, 4, 6, 8)
    tokens = patchify(x, (2, 3, 2))  # grid (2, 2, 4)
    t, h, w = 1, 0, 2
    patch = x[0, :, 2 * t : 2 * t + 2, 3 * h : 3 * h + 3, 2 * w : 2 * w + 2]  # (c, pt, ph, pw)
    index = (t * 2 + h) * 4 + w
    assert torch.equal(tokens[0, index], patch.permute(1, 2, 3, 0).reshape(-1))  # (pt ph pw c)


def test_indivisible_latent_is_refused():
    with pytest.raises(ValueError, match="W=7"):
        patchify(torch.randn(1, 4, 2, 8, 7), (1, 2, 2))
    with pytest.raises(ValueError, match="patch_size"):
        patchify(torch.randn(1, 4, 2, 8, 8), (1, 0, 2))


def test_default_rope_axes_are_even_and_sum_to_head_dim():
    assert default_rope_axes(64) == (16, 24, 24)
    assert default_rope_axes(128) == (32, 48, 48)
    for head_dim in range(6, 258, 2):
        axes = default_rope_axes(head_dim)
        assert sum(axes) == head_dim and all(d >= 2 and d % 2 == 0 for d in axes)
    with pytest.raises(ValueError):
        default_rope_axes(63)


def test_rope_is_a_rotation():
    cos, sin = rope_3d(3, 4, 5, 32)
    assert cos.shape == sin.shape == (60, 16)
    q = torch.randn(2, 4, 60, 32)
    rotated = apply_rope(q, cos, sin)
    torch.testing.assert_close(rotated.norm(dim=-1), q.norm(dim=-1))
    cos0, sin0 = rope_3d(1, 1, 1, 32)  # position (0, 0, 0) is no rotation
    torch.testing.assert_close(apply_rope(q[:, :, :1], cos0, sin0), q[:, :, :1])


def scores(q, k, positions, axes):
    cos, sin = rope_from_positions(positions, axes)
    return apply_rope(q, cos, sin) @ apply_rope(k, cos, sin).transpose(-1, -2)  # (..., N, N)


def test_rope_scores_depend_only_on_position_difference():
    torch.manual_seed(0)
    axes = (8, 12, 12)
    q, k = torch.randn(2, 24, 32).double(), torch.randn(2, 24, 32).double()
    positions = grid_positions(2, 3, 4)  # (24, 3)
    shifted = positions + torch.tensor([7.0, -3.0, 11.0])
    torch.testing.assert_close(scores(q, k, positions, axes), scores(q, k, shifted, axes), rtol=1e-5, atol=1e-5)
    # and they do depend on it: a different spatial layout changes the scores
    assert not torch.allclose(scores(q, k, positions, axes), scores(q, k, positions * 2, axes), atol=1e-3)


def test_time_offset_for_sliding_windows():
    positions = grid_positions(3, 2, 2, t_offset=5.0, t_scale=2.0)
    assert positions[:, 0].unique().tolist() == [5.0, 7.0, 9.0]
    assert positions[:4, 1:].tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    # a per-sample offset gives per-sample angles that apply_rope broadcasts over heads
    cos, sin = rope_3d(3, 2, 2, 16, t_offset=torch.tensor([0.0, 4.0]))
    assert cos.shape == (2, 12, 8)
    single_cos, single_sin = rope_3d(3, 2, 2, 16, t_offset=4.0)
    torch.testing.assert_close(cos[1], single_cos)
    q = torch.randn(2, 3, 12, 16)
    torch.testing.assert_close(apply_rope(q, cos, sin)[1], apply_rope(q[1:], single_cos, single_sin)[0])
