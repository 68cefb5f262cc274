import json
import shutil
from dataclasses import asdict

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from tenku.dit import DiT, dit_tiny
from tenku.flow import FlowSchedule
from tenku.grounding import guidance_loss
from tenku.pipeline import Pipeline, PipelineConfig, latent_frames_for, num_video_frames
from tenku.text import load_text_encoder
from tenku.train_dit import Bucket, DiTTrainConfig, draw_cond_mask, train_dit
from tenku.vae import VideoVAE, vae_tiny


@pytest.fixture(scope="module")
def text_encoder():
    return load_text_encoder("minilm")


@pytest.fixture(scope="module")
def tiny_vae_dir(tmp_path_factory):
    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("vae")
    VideoVAE(vae_tiny()).save_pretrained(directory, dtype=torch.float32)
    return directory


def tiny_dit():
    torch.manual_seed(1)
    model = DiT(dit_tiny(in_channels=4, text_dim=384))
    # Give the zero-initialised output some weight so samples depend on the inputs.
    for p in model.parameters():
        if p.abs().sum() == 0:
            p.data.normal_(0, 0.02)
    return model


@pytest.fixture(scope="module")
def pipeline(tiny_vae_dir, text_encoder):
    return Pipeline(tiny_dit(), VideoVAE.from_pretrained(tiny_vae_dir), text_encoder, PipelineConfig(steps=3))


def test_encode_refine_steps_bring_given_frames_closer(pipeline):
    """With encode_refine_steps, a given clip's latents decode closer to it (what animate, extend,
    connect and edit hold as known frames); 0 leaves the encoder's latent as it is."""
    import dataclasses

    from tenku.data import to_tensor

    frames = pipeline.decode(torch.randn(1, 4, 3, 8, 8, generator=torch.Generator().manual_seed(2)), 9)
    plain = pipeline.encode(frames)
    torch.testing.assert_close(plain, pipeline.vae.encode(to_tensor(frames)[None]))
    config = pipeline.config
    try:
        pipeline.config = dataclasses.replace(config, encode_refine_steps=6)
        refined = pipeline.encode(frames)
    finally:
        pipeline.config = config
    error = lambda z: np.abs(pipeline.decode(z, 9).astype(np.float32) - frames).mean()  # noqa: E731
    assert refined.shape == plain.shape and error(refined) < 0.8 * error(plain)


def test_deflicker_gate_ramps_decoded_steps_between_groups(pipeline):
    """With deflicker_gate, `decode` ramps the steps between latent groups of the whole decoded
    video (`tenku.deflicker`) before cutting it to the frames asked for; off, it does not."""
    import dataclasses

    from tenku.data import to_frames
    from tenku.deflicker import ramp_group_steps

    z = torch.randn(1, 4, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    plain = pipeline.decode(z, 11)
    config = pipeline.config
    try:
        pipeline.config = dataclasses.replace(config, deflicker_gate=1000.0)
        ramped = pipeline.decode(z, 11)
    finally:
        pipeline.config = config
    decoded = pipeline.vae.decode(z, chunk_latents=8)  # 13 frames
    assert np.array_equal(plain, to_frames(decoded[0, :, :11]))
    assert np.array_equal(ramped, to_frames(ramp_group_steps(decoded, 1000.0)[0, :, :11]))
    assert not np.array_equal(ramped, plain) and np.array_equal(ramped[0], plain[0])


def test_frame_arithmetic():
    assert num_video_frames(2.0, 8) == 17 and latent_frames_for(17) == 5
    assert num_video_frames(1.5, 8) == 13 and latent_frames_for(13) == 4
    assert latent_frames_for(12) == 4 and latent_frames_for(1) == 1


@pytest.mark.parametrize("size", [(64, 64), (112, 64), (64, 112)])
@pytest.mark.parametrize("seconds", [1.0, 1.5, 4.0])
def test_generate_shapes(pipeline, size, seconds):
    frames = pipeline.generate("a red ball moving right", seconds=seconds, size=size, steps=2)
    assert frames.shape == (round(seconds * 8) + 1, size[1], size[0], 3) and frames.dtype == np.uint8


def test_image_shape_and_determinism(pipeline):
    a = pipeline.image("a blue square", size=(64, 64), seed=3, steps=2)
    b = pipeline.image("a blue square", size=(64, 64), seed=3, steps=2)
    c = pipeline.image("a blue square", size=(64, 64), seed=4, steps=2)
    assert a.shape == (64, 64, 3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"size": (48, 48)}, "supported sizes: 64x64, 112x64, 64x112"),
        ({"seconds": 0}, "seconds must be > 0"),
        ({"seconds": -1}, "seconds must be > 0"),
        ({"seconds": 9}, "at most 4"),
        ({"seconds": float("nan")}, "seconds must be > 0 and finite"),
        ({"seconds": float("inf")}, "seconds must be > 0 and finite"),
        ({"prompt": "  "}, "prompt is empty"),
        ({"fps": 24}, "8 fps"),
        ({"fps": float("nan")}, "8 fps"),
        ({"steps": 0}, "steps must be >= 1"),
        ({"guidance": -1}, "guidance must be a finite number >= 0"),
        ({"guidance": float("nan")}, "guidance must be a finite number >= 0"),  # was a black video
        ({"guidance": float("inf")}, "guidance must be a finite number >= 0"),
        ({"seed": -1}, r"seed must be an integer from 0 to 2\*\*64 - 1"),
        ({"seed": 2**64}, r"seed must be an integer from 0 to 2\*\*64 - 1"),
        ({"sampler": "ddim"}, "sampler must be one of"),
    ],
)
def test_bad_arguments(pipeline, kwargs, match):
    args = {"prompt": "a red ball", "seconds": 1.0, "size": (64, 64), **kwargs}
    with pytest.raises(ValueError, match=match):
        pipeline.generate(**args)


@pytest.fixture(scope="module")
def model_dir(pipeline, tmp_path_factory):
    directory = tmp_path_factory.mktemp("model")
    pipeline.save_pretrained(directory, dtype=torch.float32)
    pipeline.vae.save_pretrained(directory / "vae", dtype=torch.float32)
    return directory


def _break_json(name, **changes):
    def apply(directory):
        path = directory / name
        path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))
    return apply


@pytest.mark.parametrize(
    "damage,error,match",
    [
        (lambda d: shutil.rmtree(d), FileNotFoundError, "no such model directory"),
        (lambda d: (d / "pipeline.json").unlink(), FileNotFoundError, "pipeline.json: missing"),
        (lambda d: (d / "pipeline.json").write_text("{ not json"), ValueError, "pipeline.json: not valid JSON"),
        (_break_json("pipeline.json", bogus=1), ValueError, "pipeline.json: not a valid PipelineConfig.*bogus"),
        (_break_json("pipeline.json", fps=0), ValueError, "pipeline.json: not a valid PipelineConfig.*fps must be"),
        (_break_json("pipeline.json", guidance=float("nan")), ValueError, "pipeline.json: .*guidance must be"),
        (_break_json("dit_config.json", depth=3), ValueError, "dit.safetensors: the weights do not fit.*missing"),
        (lambda d: (d / "dit.safetensors").write_bytes(b"junk" * 100), ValueError,
         "dit.safetensors: not a readable safetensors file"),
        (lambda d: (d / "vae" / "vae_config.json").write_text(""), ValueError, "vae_config.json: not valid JSON"),
    ],
)
def test_broken_model_directories_are_named(model_dir, tmp_path, damage, error, match):
    """A missing or corrupt model file is a ValueError/FileNotFoundError naming it, never a traceback
    from json, safetensors or load_state_dict."""
    directory = tmp_path / "model"
    shutil.copytree(model_dir, directory)
    Pipeline.from_pretrained(directory)  # intact, it loads
    damage(directory)
    with pytest.raises(error, match=match):
        Pipeline.from_pretrained(directory)


def test_autoguidance_loads_its_weak_transformer_and_changes_samples(model_dir, tmp_path):
    """pipeline.json's autoguidance_model is a transformer directory relative to the model's; samples
    move with the weight, weight 0 samples as without; a missing directory or weak model is named."""
    directory = tmp_path / "model"
    shutil.copytree(model_dir, directory)
    weak = tiny_dit()
    for p in weak.parameters():
        p.data.add_(0.05 * torch.randn_like(p))
    (directory / "weak").mkdir()  # a weak transformer's directory needs no pipeline.json
    save_file(weak.state_dict(), str(directory / "weak" / "dit.safetensors"))
    (directory / "weak" / "dit_config.json").write_text(json.dumps(asdict(weak.config)))
    plain = Pipeline.from_pretrained(directory)
    _break_json("pipeline.json", autoguidance=1.0, autoguidance_model="weak")(directory)
    auto = Pipeline.from_pretrained(directory)
    assert auto.weak is not None and torch.equal(auto.weak.final.linear.weight, weak.final.linear.weight)
    shape, prompt = (2, 8, 8), "a red ball moving right"
    base = plain.sample_latents(prompt, shape, seed=3)
    assert not torch.allclose(auto.sample_latents(prompt, shape, seed=3), base)
    auto.config.autoguidance = 0.0
    torch.testing.assert_close(auto.sample_latents(prompt, shape, seed=3), base)
    with pytest.raises(ValueError, match="needs the weak transformer"):
        Pipeline(plain.dit, plain.vae, plain.text_encoder, PipelineConfig(autoguidance=1.0, autoguidance_model="weak"))
    _break_json("pipeline.json", autoguidance_model="nowhere")(directory)
    with pytest.raises(FileNotFoundError, match="nowhere/dit_config.json: missing"):
        Pipeline.from_pretrained(directory)


def test_skip_guidance_weakens_the_model_itself(pipeline):
    """autoguidance_skip: the weak model is the pipeline's own transformer without those blocks'
    self-attention; blocks it lacks, or two weak models at once, are refused."""
    from dataclasses import replace

    shape, prompt = (2, 8, 8), "a red ball moving right"
    base = pipeline.sample_latents(prompt, shape, seed=3)
    skip = Pipeline(pipeline.dit, pipeline.vae, pipeline.text_encoder,
                    replace(pipeline.config, autoguidance=1.0, autoguidance_skip=(1,)))
    assert not torch.allclose(skip.sample_latents(prompt, shape, seed=3), base)
    # it acts on clips with no known frames only, and not in edits
    cond, mask = torch.randn(1, 4, *shape), torch.tensor([[1.0, 0.0]])
    torch.testing.assert_close(skip.sample_latents(prompt, shape, seed=3, cond=cond, cond_mask=mask),
                               pipeline.sample_latents(prompt, shape, seed=3, cond=cond, cond_mask=mask))
    start = torch.randn(1, 4, *shape)
    torch.testing.assert_close(skip.sample_latents(prompt, shape, seed=3, noise=start, t_start=0.5, editing=True),
                               pipeline.sample_latents(prompt, shape, seed=3, noise=start, t_start=0.5, editing=True))
    # autoguidance_until: the weak model is called at the steps from t = 1 down to that time only
    late = Pipeline(pipeline.dit, pipeline.vae, pipeline.text_encoder, replace(skip.config, autoguidance_until=0.6))
    weak, times = late._weak_model(), []
    late._weak_model = lambda: lambda x, t, **kwargs: times.append(float(t.max())) or weak(x, t, **kwargs)
    windowed = late.sample_latents(prompt, shape, seed=3, steps=6)
    ts = late.timesteps(6, shape)[:-1]
    assert times == [float(t) for t in ts if t >= 0.6] and 0 < len(times) < len(ts)
    assert not torch.allclose(windowed, skip.sample_latents(prompt, shape, seed=3, steps=6))
    assert not torch.allclose(windowed, pipeline.sample_latents(prompt, shape, seed=3, steps=6))
    with pytest.raises(ValueError, match=r"autoguidance_skip \[5\] names blocks the transformer, of 2 blocks"):
        Pipeline(pipeline.dit, pipeline.vae, pipeline.text_encoder, PipelineConfig(autoguidance=1.0, autoguidance_skip=(5,)))
    with pytest.raises(ValueError, match="two weak models"):
        PipelineConfig(autoguidance=1.0, autoguidance_skip=(1,), autoguidance_model="weak")


def test_context_guidance_acts_where_frames_are_given_and_not_in_edits(pipeline):
    """context_guidance: with known frames every guidance call carries a third half (the empty prompt,
    no known frames), and the sample changes; with none, and in edits, sampling is as without it."""
    from dataclasses import replace

    shape, prompt = (2, 8, 8), "a red ball moving right"
    guided = Pipeline(pipeline.dit, pipeline.vae, pipeline.text_encoder, replace(pipeline.config, context_guidance=1.5))
    cond, mask = torch.randn(1, 4, *shape), torch.tensor([[1.0, 0.0]])
    batches = []
    hook = guided.dit.register_forward_pre_hook(lambda module, args: batches.append(args[0].shape[0]))
    try:
        with_known = guided.sample_latents(prompt, shape, seed=3, cond=cond, cond_mask=mask)
    finally:
        hook.remove()
    assert batches == [3] * 3  # one call of three halves at each of the 3 steps
    plain = pipeline.sample_latents(prompt, shape, seed=3, cond=cond, cond_mask=mask)
    assert not torch.allclose(with_known[:, :, 1:], plain[:, :, 1:])
    torch.testing.assert_close(with_known[:, :, :1], cond[:, :, :1])  # the known frame is still exact
    torch.testing.assert_close(guided.sample_latents(prompt, shape, seed=3), pipeline.sample_latents(prompt, shape, seed=3))
    start = torch.randn(1, 4, *shape)
    torch.testing.assert_close(guided.sample_latents(prompt, shape, seed=3, noise=start, t_start=0.5, editing=True),
                               pipeline.sample_latents(prompt, shape, seed=3, noise=start, t_start=0.5, editing=True))


def test_known_frames_are_kept(pipeline):
    shape = (3, 8, 8)
    cond = torch.randn(1, 4, *shape)
    mask = torch.tensor([[1.0, 0.0, 1.0]])
    z = pipeline.sample_latents("a red ball", shape, cond=cond, cond_mask=mask, steps=2)
    torch.testing.assert_close(z[:, :, 0], cond[:, :, 0])
    torch.testing.assert_close(z[:, :, 2], cond[:, :, 2])
    assert not torch.allclose(z[:, :, 1], cond[:, :, 1])


def guided_sample(vae_dir, text_encoder, prompt: str, *, cond=None, cond_mask=None, follow_motion=True,
                  editing=False, **config):
    """A (3, 8, 8) latent from a tiny pipeline with the given `PipelineConfig` fields (3 steps, seed 2)."""
    pipe = Pipeline(tiny_dit(), VideoVAE.from_pretrained(vae_dir), text_encoder, PipelineConfig(steps=3, **config))
    return pipe.sample_latents(prompt, (3, 8, 8), seed=2, cond=cond, cond_mask=cond_mask, follow_motion=follow_motion,
                               editing=editing)


def test_binding_guidance_moves_two_object_samples_only(tiny_vae_dir, text_encoder):
    def sample(prompt, strength, motion=0.0, **kwargs):
        return guided_sample(tiny_vae_dir, text_encoder, prompt, binding_guidance=strength, binding_motion=motion,
                             **kwargs)

    two = "a red square moving left and a blue circle falling on a black background"
    one = "a red square moving left on a black background"
    assert not torch.allclose(sample(two, 0.5), sample(two, 0.0))
    torch.testing.assert_close(sample(one, 0.5), sample(one, 0.0))  # one object: nothing to separate
    cond = torch.randn(1, 4, 3, 8, 8)
    mask = torch.tensor([[1.0, 0.0, 0.0]])
    guided = sample(two, 0.5, cond=cond, cond_mask=mask)
    torch.testing.assert_close(guided[:, :, 0], cond[:, :, 0])  # known frames stay as given
    assert not torch.allclose(guided, sample(two, 0.0, cond=cond, cond_mask=mask))
    # the motion term changes what the guidance descends, for prompts that give their objects directions
    assert not torch.allclose(sample(two, 0.5, motion=1.0), sample(two, 0.5))
    # a loop's way back runs against the prompt's motion: follow_motion=False leaves the term out
    torch.testing.assert_close(sample(two, 0.5, motion=1.0, follow_motion=False), sample(two, 0.5))
    bouncing = "a red square bouncing and a blue circle bouncing on a black background"
    torch.testing.assert_close(sample(bouncing, 0.5, motion=1.0), sample(bouncing, 0.5))


def test_one_place_term_guides_one_object_prompts_too(tiny_vae_dir, text_encoder):
    def sample(prompt, compact, **kwargs):
        return guided_sample(tiny_vae_dir, text_encoder, prompt, binding_guidance=0.5, binding_compact=compact, **kwargs)

    one = "a red square moving left on a black background"
    assert not torch.allclose(sample(one, 1.0), sample(one, 0.0))
    two = "a red square moving left and a blue circle falling on a black background"
    assert not torch.allclose(sample(two, 1.0), sample(two, 0.0))
    torch.testing.assert_close(sample("a ball on a floor", 1.0), sample("a ball on a floor", 0.0))  # no world colour
    cond, mask = torch.randn(1, 4, 3, 8, 8), torch.tensor([[1.0, 0.0, 0.0]])
    # with known frames (animate, extend, ...) the term is left out
    torch.testing.assert_close(sample(one, 1.0, cond=cond, cond_mask=mask), sample(one, 0.0, cond=cond, cond_mask=mask))
    torch.testing.assert_close(sample(two, 1.0, cond=cond, cond_mask=mask), sample(two, 0.0, cond=cond, cond_mask=mask))


def test_steady_size_term_guides_clips_with_no_known_frames(tiny_vae_dir, text_encoder):
    def sample(prompt, steady, **kwargs):
        return guided_sample(tiny_vae_dir, text_encoder, prompt, binding_guidance=0.5, binding_steady=steady, **kwargs)

    one = "a red square moving left on a black background"
    assert not torch.allclose(sample(one, 1.0), sample(one, 0.0))  # one object is enough
    two = "a red square moving left and a blue circle falling on a black background"
    assert not torch.allclose(sample(two, 1.0), sample(two, 0.0))
    torch.testing.assert_close(sample("a ball on a floor", 1.0), sample("a ball on a floor", 0.0))  # no world colour
    cond, mask = torch.randn(1, 4, 3, 8, 8), torch.tensor([[1.0, 0.0, 0.0]])
    torch.testing.assert_close(sample(one, 1.0, cond=cond, cond_mask=mask), sample(one, 0.0, cond=cond, cond_mask=mask))
    torch.testing.assert_close(guided_sample(tiny_vae_dir, text_encoder, one, binding_steady=1.0),
                               guided_sample(tiny_vae_dir, text_encoder, one))  # no step: no guidance
    # binding_steady_objects: the most objects a prompt may name for the term to act
    assert not torch.allclose(sample(one, 1.0, binding_steady_objects=1), sample(one, 0.0))
    torch.testing.assert_close(sample(two, 1.0, binding_steady_objects=1), sample(two, 0.0))
    assert not torch.allclose(sample(two, 1.0, binding_steady_objects=2), sample(two, 0.0))
    # binding_steady_many: the weight past binding_steady_objects (the full weight: as if there were no limit)
    many = sample(two, 1.0, binding_steady_objects=1, binding_steady_many=0.5)
    assert not torch.allclose(many, sample(two, 0.0)) and not torch.allclose(many, sample(two, 1.0))
    torch.testing.assert_close(sample(two, 1.0, binding_steady_objects=1, binding_steady_many=1.0), sample(two, 1.0))
    torch.testing.assert_close(sample(one, 1.0, binding_steady_objects=1, binding_steady_many=0.5),
                               sample(one, 1.0))
    torch.testing.assert_close(sample(two, 0.0, binding_steady_objects=1, binding_steady_many=0.5),
                               sample(two, 0.0))  # no steady term: nothing to weigh
    # not in edits, which keep their own settings
    torch.testing.assert_close(sample(one, 1.0, edit_binding=0.5, editing=True),
                               sample(one, 0.0, edit_binding=0.5, editing=True))


def test_known_frames_steady_term_guides_clips_with_known_frames_only(tiny_vae_dir, text_encoder):
    def sample(prompt, weight, **kwargs):
        return guided_sample(tiny_vae_dir, text_encoder, prompt, binding_guidance=0.5, binding_steady_known=weight,
                             **kwargs)

    one = "a red square moving left on a black background"
    cond, mask = torch.randn(1, 4, 3, 8, 8), torch.tensor([[1.0, 0.0, 0.0]])
    guided = sample(one, 1.0, cond=cond, cond_mask=mask)
    assert not torch.allclose(guided, sample(one, 0.0, cond=cond, cond_mask=mask))  # one object is enough
    torch.testing.assert_close(guided[:, :, 0], cond[:, :, 0])  # known frames stay as given
    torch.testing.assert_close(sample(one, 1.0), sample(one, 0.0))  # no known frames: binding_steady's place
    two = "a red square moving left and a blue circle falling on a black background"
    assert not torch.allclose(sample(two, 1.0, cond=cond, cond_mask=mask), sample(two, 0.0, cond=cond, cond_mask=mask))


def test_shape_term_acts_on_prompts_whose_objects_name_shapes(tiny_vae_dir, text_encoder):
    def sample(prompt, weight, **kwargs):
        return guided_sample(tiny_vae_dir, text_encoder, prompt, binding_guidance=0.5, binding_shape=weight, **kwargs)

    two = "a red square moving left and a blue circle falling on a black background"
    assert not torch.allclose(sample(two, 1.0), sample(two, 0.0))
    unnamed = "a red one moving left and a blue one falling on a black background"
    torch.testing.assert_close(sample(unnamed, 1.0), sample(unnamed, 0.0))  # no shape words: nothing to bind
    cond, mask = torch.randn(1, 4, 3, 8, 8), torch.tensor([[1.0, 0.0, 0.0]])
    # with known frames the term is left out, as the one-place term
    torch.testing.assert_close(sample(two, 1.0, cond=cond, cond_mask=mask), sample(two, 0.0, cond=cond, cond_mask=mask))


def test_steady_gravity_weight_acts_on_bouncing_and_falling_objects_of_many_object_prompts(tiny_vae_dir, text_encoder):
    def sample(prompt, gravity, **kwargs):
        return guided_sample(tiny_vae_dir, text_encoder, prompt, binding_guidance=0.5, binding_steady=1.0,
                             binding_steady_objects=1, binding_steady_gravity=gravity, **kwargs)

    falling = "a red square moving left and a blue circle falling on a black background"
    assert not torch.allclose(sample(falling, 1.0), sample(falling, 0.0))
    straight = "a red square moving left and a blue circle moving up on a black background"
    torch.testing.assert_close(sample(straight, 1.0), sample(straight, 0.0))  # no object under gravity
    one = "a blue circle falling on a black background"
    torch.testing.assert_close(sample(one, 1.0), sample(one, 0.0))  # one object: binding_steady acts on it anyway
    cond, mask = torch.randn(1, 4, 3, 8, 8), torch.tensor([[1.0, 0.0, 0.0]])
    torch.testing.assert_close(sample(falling, 1.0, binding_steady_known=1.0, cond=cond, cond_mask=mask),
                               sample(falling, 0.0, binding_steady_known=1.0, cond=cond, cond_mask=mask))


def test_shape_term_goes_on_alone_down_to_binding_shape_until(tiny_vae_dir, text_encoder):
    def sample(prompt, shape_until=None, **kwargs):
        return guided_sample(tiny_vae_dir, text_encoder, prompt, binding_guidance=0.5, binding_shape=1.0,
                             binding_guidance_until=0.9, binding_shape_until=shape_until, **kwargs)

    two = "a red square moving left and a blue circle falling on a black background"
    assert not torch.allclose(sample(two, 0.0), sample(two))  # the later steps take the shape step
    torch.testing.assert_close(sample(two, 0.95), sample(two))  # above the others' end: nothing more
    unnamed = "a red one moving left and a blue one falling on a black background"
    torch.testing.assert_close(sample(unnamed, 0.0), sample(unnamed))  # no shape words: no shape step
    cond, mask = torch.randn(1, 4, 3, 8, 8), torch.tensor([[1.0, 0.0, 0.0]])
    torch.testing.assert_close(sample(two, 0.0, cond=cond, cond_mask=mask), sample(two, cond=cond, cond_mask=mask))
    torch.testing.assert_close(sample(two, 0.0, edit_binding=0.5, editing=True),
                               sample(two, edit_binding=0.5, editing=True))  # not in edits


def test_edits_are_guided_by_the_edit_settings_alone(tiny_vae_dir, text_encoder):
    def edit(**config):
        return guided_sample(tiny_vae_dir, text_encoder, two, editing=True, **config)

    two = "a red square moving left and a blue circle falling on a black background"
    plain = edit()
    assert not torch.allclose(edit(edit_binding=0.5), plain)
    torch.testing.assert_close(edit(binding_guidance=0.5), plain)  # text to video's guidance does not act in edits
    # the anchor changes what the guidance descends; the motion term is left out (edits keep the input's motion)
    assert not torch.allclose(edit(edit_binding=0.5, edit_anchor=1.0), edit(edit_binding=0.5))
    torch.testing.assert_close(edit(edit_binding=0.5, binding_motion=1.0), edit(edit_binding=0.5))
    # and the edit settings do not act outside edits
    torch.testing.assert_close(guided_sample(tiny_vae_dir, text_encoder, two, edit_binding=0.5, edit_anchor=1.0),
                               guided_sample(tiny_vae_dir, text_encoder, two))


def test_layout_selection_finishes_the_candidate_whose_guided_steps_end_lowest(tiny_vae_dir, text_encoder, monkeypatch):
    import tenku.pipeline as pipeline_module

    scores: list[float] = []

    def recording(*args, **kwargs):
        loss = guidance_loss(*args, **kwargs)
        scores.append(float(loss.detach()))
        return loss

    monkeypatch.setattr(pipeline_module, "guidance_loss", recording)
    two = "a red square moving left and a blue circle falling on a black background"
    config = {"steps": 4, "binding_guidance": 0.5, "binding_guidance_until": 0.5}
    pipe = Pipeline(tiny_dit(), VideoVAE.from_pretrained(tiny_vae_dir), text_encoder, PipelineConfig(**config))
    shape, seed = (3, 8, 8), 5
    ts = pipe.timesteps(None, shape)
    split = int((ts[:-1] >= 0.5).sum())
    assert 0 < split < len(ts) - 1  # some steps guided, some not: both parts of the selection run
    noises = [torch.randn(1, 4, *shape, generator=torch.Generator().manual_seed(seed))]
    noises += [torch.randn(1, 4, *shape, generator=torch.Generator().manual_seed(pipeline_module._candidate_seed(seed, k)))
               for k in (1, 2)]
    singles, first, last = [], [], []
    for noise in noises:  # each candidate sampled on its own, and its first and last guided steps' losses
        scores.clear()
        singles.append(pipe.sample_latents(two, shape, seed=seed, noise=noise))
        assert len(scores) == split
        first.append(scores[0])
        last.append(scores[-1])
    assert len(set(last)) == 3 and not torch.allclose(singles[0], singles[1])
    pipe.config = PipelineConfig(**config, layout_candidates=3)
    totals = []
    chosen = pipe.sample_latents(two, shape, seed=seed, callback=lambda info: totals.append(info["total"]))
    torch.testing.assert_close(chosen, singles[int(np.argmin(last))])
    assert totals == [3 * split + len(ts) - 1 - split] * len(totals) and len(totals) == totals[0]
    torch.testing.assert_close(pipe.sample_latents(two, shape, seed=seed), chosen)  # deterministic in the seed
    # layout_until: the candidates take the guided steps down to that time only, ranked by the last of them
    pipe.config = PipelineConfig(**config, layout_candidates=3, layout_until=1.0)
    totals.clear()
    early = pipe.sample_latents(two, shape, seed=seed, callback=lambda info: totals.append(info["total"]))
    torch.testing.assert_close(early, singles[int(np.argmin(first))])
    assert totals == [3 + len(ts) - 2] * len(totals) and len(totals) == totals[0]
    # where frames are given (animate, extend, ...), and in edits, nothing is selected
    cond, mask = torch.randn(1, 4, *shape), torch.tensor([[1.0, 0.0, 0.0]])
    selected = pipe.sample_latents(two, shape, seed=seed, cond=cond, cond_mask=mask)
    pipe.config = PipelineConfig(**config)
    torch.testing.assert_close(selected, pipe.sample_latents(two, shape, seed=seed, cond=cond, cond_mask=mask))
    # the loop's and long video's progress totals count the candidates' steps
    window = pipeline_module.Window(num_latents=3, keep=(0, 9))
    plain = pipe._total_steps([window], (64, 64), None, prompt=two)
    pipe.config = PipelineConfig(**config, layout_candidates=3)
    assert pipe._total_steps([window], (64, 64), None, prompt=two) == plain + 2 * split
    assert pipe._total_steps([window], (64, 64), None, prompt="a ball on a floor") == plain  # guidance does not act


@pytest.mark.parametrize("field, value", [("binding_guidance", -0.1), ("binding_guidance", float("nan")),
                                          ("binding_guidance_until", 1.5), ("binding_motion", -1.0),
                                          ("binding_motion", float("inf")), ("binding_compact", -0.5),
                                          ("binding_steady", -1.0), ("binding_steady_objects", 0),
                                          ("binding_steady_objects", 1.5), ("binding_steady_objects", True),
                                          ("binding_steady_many", -0.5), ("binding_steady_many", float("nan")),
                                          ("binding_steady_known", float("inf")), ("binding_shape", float("nan")),
                                          ("edit_binding", -0.1),
                                          ("edit_binding_until", -0.2), ("edit_anchor", float("inf")),
                                          ("autoguidance", -1.0), ("autoguidance", float("nan")),
                                          ("autoguidance", 0.5),  # (0.5 without a weak model)
                                          ("autoguidance_skip", (-1,)), ("autoguidance_skip", (1.5,)),
                                          ("autoguidance_until", 1.5), ("autoguidance_until", float("nan")),
                                          ("context_guidance", -1.0), ("context_guidance", float("nan")),
                                          ("layout_candidates", 0), ("layout_candidates", 1.5),
                                          ("layout_candidates", True), ("layout_until", 1.5),
                                          ("binding_shape_until", -0.1), ("binding_steady_gravity", -1.0),
                                          ("encode_refine_steps", -1), ("encode_refine_steps", 1.5),
                                          ("encode_refine_steps", True), ("deflicker_gate", 0.0),
                                          ("deflicker_gate", float("nan")), ("deflicker_gate", True)])
def test_binding_guidance_settings_are_checked(field, value):
    with pytest.raises(ValueError, match=field):
        PipelineConfig(**{field: value})


def test_cond_masks_cover_modes():
    rng = np.random.default_rng(0)
    for t in (1, 2, 3, 5, 9):
        for _ in range(50):
            mask = draw_cond_mask(rng, t)
            assert mask.shape == (t,) and set(np.unique(mask)) <= {0.0, 1.0}
            if t == 1:
                assert mask.sum() == 0
            else:
                assert 1 <= mask.sum() <= t - 1 or (mask[0] == 1 and mask[-1] == 1)


def _tiny_config(out, vae_dir, steps):
    return DiTTrainConfig(
        out_dir=str(out), vae=str(vae_dir), model=dit_tiny(in_channels=4, text_dim=384), steps=steps,
        warmup_steps=1, sample_every=0, checkpoint_minutes=1e9,
        buckets=(Bucket(5, 32, 32, 2, 1.0), Bucket(1, 32, 32, 3, 1.0)),
        flow=FlowSchedule(base_tokens=16),
    )


def test_dit_training_resumes_exactly_and_exports(tmp_path, tiny_vae_dir):
    straight = train_dit(_tiny_config(tmp_path / "a", tiny_vae_dir, 3), progress=False)
    config = _tiny_config(tmp_path / "b", tiny_vae_dir, 3)
    config.stop_at_step = 1
    train_dit(config, progress=False)
    assert json.loads((tmp_path / "b" / "checkpoint" / "state.json").read_text())["step"] == 1
    resumed = train_dit(_tiny_config(tmp_path / "b", tiny_vae_dir, 3), progress=False)
    a, b = Pipeline.from_pretrained(straight), Pipeline.from_pretrained(resumed)
    for (name, pa), pb in zip(a.dit.state_dict().items(), b.dit.state_dict().values()):
        torch.testing.assert_close(pa, pb, atol=0, rtol=0, msg=name)
    assert a.config.sizes == ((32, 32),)
    frames = a.generate("a red ball moving right", seconds=0.5, size=(32, 32), steps=2)
    assert frames.shape == (5, 32, 32, 3)


def test_latent_cache_builds_resumes_and_trains(tmp_path, tiny_vae_dir):
    from tenku.latent_cache import CachedLatentBatches, build_cache, clips_per_bucket, vae_fingerprint
    from tenku.models import load_vae

    config = _tiny_config(tmp_path / "run", tiny_vae_dir, 2)
    config.latent_cache = 10
    assert clips_per_bucket(config.buckets, 10) == [4, 6]  # weight x batch size: 2 : 3
    fingerprint = vae_fingerprint(load_vae(tiny_vae_dir))
    cache = build_cache(config, tmp_path / "cache", fingerprint, processes=1, progress=False)
    first = sorted(p.name for p in cache.glob("*.safetensors"))
    assert first == ["b00_0000.safetensors", "b01_0000.safetensors"]
    (cache / "b01_0000.safetensors").unlink()  # an interrupted build is finished, the rest kept
    stamp = (cache / "b00_0000.safetensors").stat().st_mtime_ns
    with pytest.raises(ValueError, match="incomplete"):
        CachedLatentBatches(config, cache, fingerprint)
    build_cache(config, cache, fingerprint, processes=1, progress=False)
    assert (cache / "b00_0000.safetensors").stat().st_mtime_ns == stamp
    batches = CachedLatentBatches(config, cache, fingerprint)
    with pytest.raises(ValueError, match="this config and VAE"):  # another VAE's latents are refused
        CachedLatentBatches(config, cache, "0" * 20)
    vae = load_vae(tiny_vae_dir)
    with torch.no_grad():  # the encoder and latent statistics decide the latents; the decoder does not
        next(vae.decoder.parameters()).add_(1.0)
        assert vae_fingerprint(vae) == fingerprint
        next(vae.encoder.parameters()).add_(1.0)
        assert vae_fingerprint(vae) != fingerprint
        vae = load_vae(tiny_vae_dir)
        vae.latent_std.mul_(2.0)
        assert vae_fingerprint(vae) != fingerprint
    assert len(batches) == 10 and all(len(options) >= 2 for options in batches.captions[0])
    for step in range(6):
        batch, again = batches.batch(step), batches.batch(step)
        bucket = batch["bucket"]
        t_lat = 1 + (bucket.frames - 1) // 4
        assert batch["latents"].shape == (bucket.batch_size, 4, t_lat, 4, 4)
        assert batch["cond_mask"].shape == (bucket.batch_size, t_lat)
        assert torch.equal(batch["latents"], again["latents"]) and batch["texts"] == again["texts"]
    other = _tiny_config(tmp_path / "run", tiny_vae_dir, 2)
    other.latent_cache, other.seed = 10, 5
    with pytest.raises(ValueError, match="other buckets, seed"):
        build_cache(other, cache, fingerprint, processes=1, progress=False)
    config.latent_cache_dir, config.threads, config.text_clauses = str(cache), 1, True
    final = train_dit(config, progress=False)
    loaded = Pipeline.from_pretrained(final)
    assert loaded.config.text_clauses and loaded.text_encoder.clauses  # trained with clause tokens, served with them
    assert loaded.generate("a red ball", seconds=0.5, size=(32, 32), steps=2).shape == (5, 32, 32, 3)
    with pytest.raises(ValueError, match="text_clauses=True but the text encoder has clauses=False"):
        Pipeline(loaded.dit, loaded.vae, load_text_encoder("minilm"), loaded.config)


def test_grounded_training_runs_from_fresh_clips_and_from_a_cache(tmp_path, tiny_vae_dir, text_encoder):
    from tenku.latent_cache import CachedLatentBatches, build_cache, vae_fingerprint
    from tenku.models import load_vae
    from tenku.train_dit import StepStream, WorldLatentBatches, training_step

    config = _tiny_config(tmp_path / "run", tiny_vae_dir, 2)
    config.grounding_weight, config.text_dropout = 0.1, 0.0
    vae = load_vae(tiny_vae_dir)
    fresh = WorldLatentBatches(config, vae)
    config.latent_cache = 10
    fingerprint = vae_fingerprint(vae)
    cache = build_cache(config, tmp_path / "cache", fingerprint, processes=1, progress=False)
    cached = CachedLatentBatches(config, cache, fingerprint)
    model = DiT(config.model)
    for batches in (fresh, cached):
        batch = next(iter(StepStream(batches, text_encoder, 0, 1)))
        b, _, t, h, w = batch["latents"].shape
        assert batch["regions"].shape == (b, 3, t, h, w) and batch["regions"].any()
        assert batch["groups"].shape == (b, 3, batch["text"].shape[1]) and batch["groups"].any()
        loss, parts = training_step(model, config.flow, batch, batch["text"], batch["text_mask"], False, 0.1)
        assert set(parts) == {"flow", "grounding"} and 0 < parts["grounding"] <= 1
        assert loss.item() == pytest.approx(parts["flow"] + 0.1 * parts["grounding"], rel=1e-4)
        torch.manual_seed(0)
        loss, parts = training_step(model, config.flow, batch, batch["text"], batch["text_mask"], False, 0.0, 0.5)
        assert set(parts) == {"flow", "binding"} and 0 <= parts["binding"] <= 1
        assert loss.item() == pytest.approx(parts["flow"] + 0.5 * parts["binding"], rel=1e-4)
    config.latent_cache = 0  # an old cache (no regions) is refused by a grounded recipe, not silently used
    plain = _tiny_config(tmp_path / "plain", tiny_vae_dir, 2)
    plain.latent_cache = 10
    build_cache(plain, tmp_path / "old", fingerprint, processes=1, progress=False)
    config.latent_cache = 10
    with pytest.raises(ValueError, match="latent cache"):
        CachedLatentBatches(config, tmp_path / "old", fingerprint)
    assert train_dit(config, progress=False).exists()


def test_either_attention_loss_makes_batches_carry_object_regions():
    assert not DiTTrainConfig().needs_regions
    assert DiTTrainConfig(grounding_weight=0.1).needs_regions and DiTTrainConfig(binding_weight=0.3).needs_regions
    assert DiTTrainConfig(object_weight=3.0).needs_regions
    with pytest.raises(ValueError, match="binding_weight and object_weight must be >= 0"):
        DiTTrainConfig(binding_weight=-0.1)
    with pytest.raises(ValueError, match="object_weight must be >= 0"):
        DiTTrainConfig(object_weight=-1.0)


def test_object_weight_counts_the_cells_objects_cover_more_in_the_flow_loss(tmp_path, tiny_vae_dir, text_encoder):
    from tenku.models import load_vae
    from tenku.train_dit import StepStream, WorldLatentBatches, training_step

    config = _tiny_config(tmp_path / "run", tiny_vae_dir, 1)
    config.object_weight, config.text_dropout, config.cond_probability = 3.0, 0.0, 0.0
    batch = next(iter(StepStream(WorldLatentBatches(config, load_vae(tiny_vae_dir)), text_encoder, 0, 1)))
    covered = batch["regions"].any(dim=1, keepdim=True).float()  # (B, 1, T, h, w)
    assert 0 < covered.mean() < 1
    model, flow = DiT(config.model), config.flow
    for p in model.parameters():  # a model whose output is not zero (adaLN-Zero starts at zero)
        p.data.normal_(0, 0.05, generator=torch.Generator().manual_seed(p.numel()))

    def loss(weight):
        torch.manual_seed(0)
        return training_step(model, flow, batch, batch["text"], batch["text_mask"], False, object_weight=weight)[0]

    x_0 = batch["latents"]  # the same draws as training_step makes, to score the error by hand
    b, _, t, h, w = x_0.shape
    torch.manual_seed(0)
    _, ph, pw = config.model.patch_size
    times = flow.sample_t(b, t * (h // ph) * (w // pw))
    noise = torch.randn_like(x_0)
    with torch.no_grad():
        v = model(flow.add_noise(x_0, noise, times), times, batch["text"], batch["text_mask"], cond=x_0,
                  cond_mask=batch["cond_mask"])
    error = (v - (noise - x_0)).square()
    weights = (1 + 3.0 * covered).expand_as(error)
    expected = ((error * weights).sum(dim=(1, 2, 3, 4)) / weights.sum(dim=(1, 2, 3, 4))).mean()
    torch.testing.assert_close(loss(3.0), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(loss(0.0), error.mean(), rtol=1e-5, atol=1e-6)
    assert not torch.isclose(loss(3.0), loss(0.0))


def test_object_mix_sets_how_many_objects_training_scenes_hold(tmp_path, tiny_vae_dir):
    from safetensors import safe_open

    from tenku.latent_cache import build_cache, vae_fingerprint
    from tenku.models import load_vae
    from tenku.train_dit import draw_scene
    from tenku.world import sample_scene

    for mix, expected in (([1, 0, 0], {1}), ([0, 0, 2], {3}), ([0, 1, 1], {2, 3})):
        config = DiTTrainConfig(object_mix=mix)
        rng = np.random.default_rng(0)
        assert {len(draw_scene(rng, config, 1.0).objects) for _ in range(12)} == expected
    default, rng = DiTTrainConfig(), np.random.default_rng(3)  # no mix: the world's own draw, stream unchanged
    assert draw_scene(rng, default, 1.0) == sample_scene(int(np.random.default_rng(3).integers(2**31)), seconds=1.0)
    for bad in ([1, 1], [-1, 1, 1], [0, 0, 0]):
        with pytest.raises(ValueError, match="object_mix must be three non-negative weights"):
            DiTTrainConfig(object_mix=bad)

    config = _tiny_config(tmp_path / "run", tiny_vae_dir, 1)
    config.latent_cache, config.grounding_weight, config.object_mix = 4, 0.1, [0, 0, 1]
    fingerprint = vae_fingerprint(load_vae(tiny_vae_dir))
    cache = build_cache(config, tmp_path / "cache", fingerprint, processes=1, progress=False)
    assert json.loads((cache / "manifest.json").read_text())["object_mix"] == [0, 0, 1]
    for chunk in sorted(cache.glob("*.safetensors")):
        with safe_open(str(chunk), "pt") as f:
            assert all(len(colours) == 3 for colours in json.loads(f.metadata()["colours"]))
    config.object_mix = [1, 0, 0]  # a cache of another mix is refused, not silently reused
    with pytest.raises(ValueError, match="latent cache built for other"):
        build_cache(config, cache, fingerprint, processes=1, progress=False)


def test_colour_names_setting_reads_unknown_colours_before_encoding(tiny_vae_dir, text_encoder):
    def pipe(colour_names):
        return Pipeline(tiny_dit(), VideoVAE.from_pretrained(tiny_vae_dir), text_encoder,
                        PipelineConfig(steps=3, colour_names=colour_names))

    on, off = pipe(True), pipe(False)
    assert on.read_prompt("a sapphire ball falling").prompt == "a blue ball falling"
    assert off.read_prompt("a sapphire ball falling").replaced == ()
    torch.testing.assert_close(on.sample_latents("a sapphire ball falling", (2, 8, 8), seed=3),
                               off.sample_latents("a blue ball falling", (2, 8, 8), seed=3))
    assert not torch.allclose(off.sample_latents("a sapphire ball falling", (2, 8, 8), seed=3),
                              off.sample_latents("a blue ball falling", (2, 8, 8), seed=3))


def test_binding_guidance_flag_sets_the_edit_step_too(model_dir):
    """`--binding-guidance 0` turns attention-guided sampling off in every mode, edits included."""
    import argparse

    from tenku.generate_cli import load_pipeline

    args = argparse.Namespace(model=str(model_dir), binding_guidance=0.0, literal_prompt=False, prompt="a red ball")
    config = load_pipeline(args).config
    assert config.binding_guidance == 0.0 and config.edit_binding == 0.0
    args.binding_guidance = None
    assert load_pipeline(args).config == Pipeline.from_pretrained(model_dir).config


def test_dit_training_runs_in_fp32_where_bf16_is_emulated(tmp_path, tiny_vae_dir, monkeypatch, capsys):
    import tenku.precision as precision

    plain = _tiny_config(tmp_path / "fp32", tiny_vae_dir, 2)
    plain.bf16 = False
    fp32 = train_dit(plain, progress=False)
    monkeypatch.setattr(precision, "bf16_speedup", lambda: 0.01)  # as on a CPU with no AVX-512 BF16
    emulated = train_dit(_tiny_config(tmp_path / "emulated", tiny_vae_dir, 2), progress=False)
    assert "train dit: this CPU has no native bf16 matmul" in capsys.readouterr().err
    assert json.loads((tmp_path / "emulated" / "config.json").read_text())["bf16"] is False
    a, b = Pipeline.from_pretrained(fp32), Pipeline.from_pretrained(emulated)
    for (name, pa), pb in zip(a.dit.state_dict().items(), b.dit.state_dict().values()):
        torch.testing.assert_close(pa, pb, atol=0, rtol=0, msg=name)  # the same run as one asked for in fp32


def test_top_level_names_load_lazily():
    """`tenku.Pipeline` is the documented entry point; `import tenku` alone must not import torch."""
    import subprocess
    import sys

    code = ("import sys, tenku; assert 'torch' not in sys.modules; "
            "assert tenku.Pipeline.__module__ == 'tenku.pipeline'; assert tenku.VideoVAE.__module__ == 'tenku.vae'; "
            "assert 'torch' in sys.modules\n"
            "try:\n    tenku.NoSuchName\nexcept AttributeError as e:\n    assert 'NoSuchName' in str(e)\n"
            "else:\n    raise SystemExit('no AttributeError')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
