"""The procedural world: exact rendering, physics, ground truth, captions and parsing."""

import dataclasses
import json
import re

import numpy as np
import pytest

from tenku.world import (
    BACKGROUNDS,
    COLORS,
    GRAVITY,
    HELD_OUT,
    MOTIONS,
    RESTITUTION,
    TEXTURED_BACKGROUNDS,
    TRAIN,
    Scene,
    WorldObject,
    canonical_caption,
    captions,
    num_frames_for,
    paraphrase_prompt,
    parse_prompt,
    render,
    sample_scene,
    scene_from_prompt,
    truth_to_json,
)
from tenku.world.physics import bounds, trajectory
from tenku.world.render import backdrop


def make_object(color="red", shape="circle", size="medium", motion="still", position=(0.5, 0.5), velocity=(0.0, 0.0), depth=0):
    return WorldObject(color=color, shape=shape, size=size, motion=motion, position=position, velocity=velocity, depth=depth)


def make_scene(*objects, background="black", camera="static", seconds=2.0):
    return Scene(objects=tuple(objects), background=background, camera=camera, seconds=seconds)


def scenes(num, **kwargs):
    return [sample_scene(seed, **kwargs) for seed in range(num)]


# --- rendering ----------------------------------------------------------------------------


def test_render_is_deterministic_by_seed():
    a = render(sample_scene(7), 64, 48, 9, 8)
    b = render(sample_scene(7), 64, 48, 9, 8)
    c = render(sample_scene(8), 64, 48, 9, 8)
    assert a.frames.shape == (9, 48, 64, 3) and a.frames.dtype == np.uint8
    assert np.array_equal(a.frames, b.frames)
    assert json.dumps(truth_to_json(a.truth)) == json.dumps(truth_to_json(b.truth))
    assert not np.array_equal(a.frames, c.frames)


@pytest.mark.parametrize("width, height", [(32, 32), (112, 64), (64, 112), (256, 40)])
def test_any_allowed_size_renders(width, height):
    clip = render(sample_scene(1, num_objects=3), width, height, 3, 8)
    assert clip.frames.shape == (3, height, width, 3)


@pytest.mark.parametrize("width, height", [(30, 32), (64, 65), (24, 64), (264, 64), (64.0, 64)])
def test_bad_sizes_raise_listing_what_is_allowed(width, height):
    with pytest.raises(ValueError, match="multiple of 8 from 32 to 256"):
        render(sample_scene(0), width, height, 3, 8)


def test_bad_frame_counts_and_fps_raise():
    with pytest.raises(ValueError, match="num_frames"):
        render(sample_scene(0), 32, 32, 0, 8)
    with pytest.raises(ValueError, match="fps"):
        render(sample_scene(0), 32, 32, 3, 0)
    assert render(sample_scene(0), 32, 32, 1, 8).frames.shape == (1, 32, 32, 3)
    assert num_frames_for(2.0, 8) == 17 and num_frames_for(1.0, 8) == 9 and num_frames_for(0.5, 30) == 16


@pytest.mark.parametrize("shape", ["circle", "square", "triangle"])
def test_edges_are_anti_aliased(shape):
    # Off-grid centre, so edges cut through pixels.
    scene = make_scene(make_object(color="white", shape=shape, position=(0.513, 0.487)))
    frame = render(scene, 64, 64, 1, 8).frames[0, :, :, 0].astype(int)
    background, color = BACKGROUNDS["black"][0][0], COLORS["white"][0]
    partial = (frame > background) & (frame < color)
    assert partial.sum() >= 8  # a ring of intermediate pixels
    assert (frame == color).sum() > 10 and (frame == background).sum() > 1000


def test_canonical_colours_are_exact_at_object_centres():
    for scene in scenes(40, num_objects=1):
        clip = render(scene, 64, 64, 5, 8)
        truth = clip.truth.objects[0]
        for frame, center, visible in zip(clip.frames, truth.center, truth.visible):
            if visible == 1.0:
                x, y = np.floor(center).astype(int)
                assert tuple(frame[y, x]) == COLORS[scene.objects[0].color]


def test_every_colour_is_exact_at_32x32_for_small_objects():
    for i, color in enumerate(COLORS):
        shape = ("circle", "square", "triangle")[i % 3]
        scene = make_scene(make_object(color=color, shape=shape, size="small", position=(0.41, 0.57)), background="checkered")
        clip = render(scene, 32, 32, 1, 8)
        x, y = np.floor(clip.truth.objects[0].center[0]).astype(int)
        assert tuple(clip.frames[0, y, x]) == COLORS[color]
        assert clip.truth.objects[0].visible[0] == 1.0


def test_nearer_object_is_drawn_over_farther_one():
    def centre_pixel(red_depth):
        red = make_object(color="red", size="large", depth=red_depth)
        blue = make_object(color="blue", size="large", shape="square", position=(0.55, 0.5), depth=1 - red_depth)
        clip = render(make_scene(red, blue), 64, 64, 1, 8)
        return tuple(clip.frames[0, 32, 33]), clip.truth

    pixel, truth = centre_pixel(red_depth=0)
    assert pixel == COLORS["red"]
    assert truth.objects[0].visible[0] == 1.0 and 0 < truth.objects[1].visible[0] < 0.6
    pixel, truth = centre_pixel(red_depth=1)
    assert pixel == COLORS["blue"]
    assert truth.objects[1].visible[0] == 1.0 and truth.objects[0].visible[0] < 0.3


def test_occluded_objects_persist_in_the_truth():
    # A small ball passes behind a large still box: hidden in the middle, tracked throughout.
    box = make_object(color="white", shape="square", size="large", depth=0)
    ball = make_object(color="green", size="small", motion="right", position=(0.2, 0.5), velocity=(0.3, 0.0), depth=1)
    clip = render(make_scene(box, ball), 64, 64, 17, 8)
    ball_truth = clip.truth.objects[1]
    assert ball_truth.visible[0] == 1.0
    assert ball_truth.visible.min() == 0.0  # fully hidden at some frame ...
    hidden = np.flatnonzero(ball_truth.visible == 0)
    expected = (0.2 + 0.3 * clip.truth.times[hidden]) * 64
    np.testing.assert_allclose(ball_truth.center[hidden, 0], expected, atol=1e-9)  # ... but still moving
    assert not np.any(np.all(clip.frames[hidden] == COLORS["green"], axis=-1))
    assert ball_truth.visible[-1] == 1.0  # and comes out the other side


def test_visible_fraction_falls_to_zero_when_leaving_the_frame():
    ball = make_object(motion="left", position=(0.3, 0.5), velocity=(-0.4, 0.0))
    truth = render(make_scene(ball), 64, 64, 25, 8).truth.objects[0]
    assert truth.visible[0] == 1.0 and truth.visible[-1] == 0.0
    assert np.all(np.diff(truth.visible) <= 1e-9)  # monotone as it slides out
    assert np.any((truth.visible > 0.2) & (truth.visible < 0.8))


def test_backgrounds_are_dark_and_desaturated():
    for tones in BACKGROUNDS.values():
        for tone in tones:
            assert max(tone) < 110 and max(tone) - min(tone) <= 15
    # Every palette colour is far from every background tone.
    for rgb in COLORS.values():
        for tones in BACKGROUNDS.values():
            assert all(np.abs(np.subtract(rgb, tone)).max() > 100 for tone in tones)


def test_camera_pan_slides_the_backdrop():
    scene = make_scene(make_object(), background="checkered", camera="panning left")
    # The view moves 8 px left on the backdrop: the backdrop moves 8 px right in the frame.
    now, later = backdrop(scene, 64, 64, np.array([0.0, -8.0])).transpose(1, 2, 3, 0)  # (H, W, 3) each
    np.testing.assert_array_equal(later[:, 8:], now[:, :-8])
    assert not np.array_equal(later, now)
    for camera, sign in [("panning left", -1), ("panning right", 1)]:
        clip = render(dataclasses.replace(scene, camera=camera), 64, 64, 9, 8)
        np.testing.assert_allclose(np.diff(clip.truth.camera_offset[:, 0]) * 8, sign * 0.3 * 64)
        assert not np.array_equal(clip.frames[0], clip.frames[1])
    still = render(dataclasses.replace(scene, camera="static"), 64, 64, 9, 8)
    assert np.array_equal(still.frames[0], still.frames[-1]) and not still.truth.camera_offset.any()


def test_pans_only_over_textures():
    with pytest.raises(ValueError, match="textured"):
        make_scene(make_object(), background="black", camera="panning left")


# --- physics ------------------------------------------------------------------------------


def test_constant_velocity_is_exact():
    obj = make_object(motion="down", position=(0.4, 0.2), velocity=(0.0, 0.25))
    truth = render(make_scene(obj), 64, 48, 17, 8).truth.objects[0]
    times = np.arange(17) / 8
    np.testing.assert_allclose(truth.center, np.stack([np.full(17, 0.4 * 64), (0.2 + 0.25 * times) * 48], -1), atol=1e-9)
    np.testing.assert_allclose(truth.velocity, [[0.0, 0.25 * 48]] * 17)


def test_falling_accelerates_then_bounces_and_settles():
    obj = make_object(motion="falling", position=(0.5, 0.2))
    times = np.linspace(0, 10, 10001)
    position, velocity = trajectory(obj, times, 64, 64)
    y, vy = position[:, 1], velocity[:, 1]
    floor = bounds(obj, 64, 64)[3]
    assert np.all(y <= floor + 1e-12) and np.all(position[:, 0] == 0.5)
    t_impact = np.sqrt(2 * (floor - 0.2) / GRAVITY)
    falling = times < t_impact
    np.testing.assert_allclose(vy[falling], GRAVITY * times[falling])  # free fall from rest
    np.testing.assert_allclose(y[falling], 0.2 + GRAVITY * times[falling] ** 2 / 2)
    after = int(np.argmax(vy < 0))  # first sample after the bounce
    assert times[after - 1] <= t_impact < times[after]
    np.testing.assert_allclose(-vy[after], RESTITUTION * GRAVITY * t_impact, atol=GRAVITY * 1e-3)
    assert y[-1] == floor and vy[-1] == 0.0  # settled
    peak_after_bounce = floor - y[after:].min()
    np.testing.assert_allclose(peak_after_bounce, RESTITUTION**2 * (floor - 0.2), rtol=1e-3)


def test_bouncing_reflects_off_the_walls():
    for scene in scenes(60):
        for obj in scene.objects:
            if obj.motion != "bouncing":
                continue
            times = np.linspace(0, 3, 3001)
            position, velocity = trajectory(obj, times, 64, 64)
            x_lo, x_hi, y_lo, y_hi = bounds(obj, 64, 64)
            assert np.all((position[:, 0] >= x_lo - 1e-9) & (position[:, 0] <= x_hi + 1e-9))
            assert np.all((position[:, 1] >= y_lo - 1e-9) & (position[:, 1] <= y_hi + 1e-9))
            np.testing.assert_allclose(np.abs(velocity), np.abs(obj.velocity) * np.ones((3001, 1)))  # speed kept
            flips = np.flatnonzero(np.diff(np.sign(velocity[:, 0])))
            assert len(flips) and times[flips[0]] < 1.5  # a wall bounce within 1.5 s
            wall = position[flips[0], 0]
            assert min(abs(wall - x_lo), abs(wall - x_hi)) < 0.01  # and it happens at a wall


def test_trajectories_do_not_depend_on_fps():
    for scene in scenes(12, num_objects=3):
        slow = render(scene, 64, 64, 17, 8)
        fast = render(scene, 64, 64, 33, 16)
        for a, b in zip(slow.truth.objects, fast.truth.objects):
            np.testing.assert_array_equal(a.center, b.center[::2])
            np.testing.assert_array_equal(a.visible, b.visible[::2])
        np.testing.assert_array_equal(slow.frames, fast.frames[::2])


def test_scenes_are_resolution_independent():
    scene = sample_scene(3, num_objects=3)
    small, large = render(scene, 64, 64, 9, 8).truth, render(scene, 128, 128, 9, 8).truth
    for a, b in zip(small.objects, large.objects):
        np.testing.assert_allclose(2 * a.center, b.center, atol=1e-9)
        assert 2 * a.radius == b.radius


@pytest.mark.parametrize("seconds", [1.0, 2.0, 4.0])
def test_linear_motions_stay_in_frame_for_short_clips(seconds):
    for scene in scenes(80, seconds=seconds):
        for obj in scene.objects:
            if obj.motion in ("left", "right", "up", "down"):
                for width, height in ((64, 64), (112, 64), (64, 112), (256, 32)):
                    position, _ = trajectory(obj, np.linspace(0, seconds, 9), width, height)
                    x_lo, x_hi, y_lo, y_hi = bounds(obj, width, height)
                    assert np.all((position >= [x_lo, y_lo]) & (position <= [x_hi, y_hi]))
                    speed_px = obj.speed * 64 / 8  # px per frame at 64 px, 8 fps
                    assert speed_px > 1.0 if seconds < 4 else speed_px > 0.8


# --- sampling -----------------------------------------------------------------------------


def test_splits_are_disjoint_streams():
    train, test = scenes(200, split="train"), scenes(200, split="test")
    assert all(a != b for a, b in zip(train, test))
    train_starts = {obj.position for s in train for obj in s.objects}
    assert not train_starts & {obj.position for s in test for obj in s.objects}
    assert sample_scene(5, split="test") == sample_scene(5, split="test")
    with pytest.raises(ValueError, match="split"):
        sample_scene(0, split="val")


def test_sampled_scenes_cover_the_vocabulary():
    sampled = scenes(300)
    objects = [obj for s in sampled for obj in s.objects]
    assert {o.motion for o in objects} == set(MOTIONS)
    assert {o.color for o in objects} == set(COLORS)
    assert {s.background for s in sampled} == set(BACKGROUNDS)
    assert {s.camera for s in sampled} == {"static", "panning left", "panning right"}
    assert {len(s.objects) for s in sampled} == {1, 2, 3}
    for s in sampled:
        assert len({o.color for o in s.objects}) == len(s.objects)
        assert s.camera == "static" or s.background in TEXTURED_BACKGROUNDS
    assert all(len(sample_scene(i, num_objects=2).objects) == 2 for i in range(5))


def test_truth_json_round_trips():
    clip = render(sample_scene(2, num_objects=2), 32, 32, 5, 8)
    data = json.loads(json.dumps(truth_to_json(clip.truth)))
    assert data["size"] == [32, 32] and data["frames"] == 5 and data["split"] == "train"
    for obj, record in zip(clip.truth.objects, data["objects"]):
        assert len(record["track"]) == 5 and len(record["visible"]) == 5
        np.testing.assert_allclose(record["track"], obj.center, atol=1e-3)
        assert {"color", "shape", "size", "motion", "radius", "velocity", "depth"} <= set(record)


# --- captions and prompts -----------------------------------------------------------------


def test_canonical_captions():
    red = make_object(color="red", motion="right", velocity=(0.2, 0.0))
    blue = make_object(color="blue", shape="square", motion="falling", depth=1)
    green = make_object(color="green", shape="triangle", motion="still", depth=2)
    assert canonical_caption(make_scene(red)) == "a red circle moving right on a black background"
    assert canonical_caption(make_scene(red, blue, background="dark gray")) == (
        "a red circle moving right and a blue square falling on a dark gray background"
    )
    assert canonical_caption(make_scene(red, blue, green, background="checkered", camera="panning left")) == (
        "a red circle moving right, a blue square falling and a green triangle staying still"
        " on a checkered background, camera panning left"
    )
    orange = make_object(color="orange", motion="bouncing", velocity=(0.3, 0.3))
    assert canonical_caption(make_scene(orange, background="striped")) == "an orange circle bouncing on a striped background"


def _assert_parses_to(text: str, scene: Scene):
    spec = parse_prompt(text)
    assert len(spec.objects) == len(scene.objects), (text, spec)
    parsed = {obj.color: obj for obj in spec.objects}
    for obj in scene.objects:
        got = parsed.get(obj.color)
        assert got is not None, (text, spec)
        assert (got.shape, got.motion) == (obj.shape, obj.motion), (text, spec)
        assert got.size in (None, obj.size), (text, spec)
    assert spec.background in (None, scene.background), (text, spec)
    assert spec.camera in (None, scene.camera), (text, spec)
    return spec


def test_every_caption_parses_back_to_the_scene():
    for seed in range(200):
        scene = sample_scene(seed, split="test" if seed % 2 else "train")
        texts = captions(scene, np.random.default_rng(seed))
        assert texts[0] == canonical_caption(scene) and len(set(texts)) >= 5
        for text in texts:
            _assert_parses_to(text, scene)
        canonical = parse_prompt(texts[0])
        assert canonical.background == scene.background
        assert canonical.camera == (None if scene.camera == "static" else scene.camera)


def test_captions_vary_and_mention_sizes_only_outside_the_canonical_form():
    size_words = {w for words in TRAIN.sizes.values() for w in words}
    texts = [c for seed in range(50) for c in captions(sample_scene(seed), np.random.default_rng(seed))]
    assert not any(set(c.split()) & size_words for c in texts[::7])  # canonical captions
    assert sum(bool(set(c.lower().split()) & size_words) for c in texts) > 50
    assert len({c.split()[1] for c in texts if c.startswith("a ")}) > 12  # colour synonyms in use


def test_held_out_phrasings_never_appear_in_training_captions_but_parse():
    def words(book):
        return {
            w
            for field in dataclasses.fields(book)
            for value in [getattr(book, field.name)]
            for phrase in _phrases(value)
            for w in re.findall(r"[a-z]+", phrase)
        }

    held_out_only = words(HELD_OUT) - words(TRAIN) - {"the", "a", "to", "is", "in", "off", "of", "at", "camera", "down", "its"}
    assert {"ruby", "orb", "cruising", "plummeting", "chequered", "void", "sweeps", "stationary"} <= held_out_only
    used_held_out = set()
    for seed in range(150):
        scene = sample_scene(seed, split="test")
        rng = np.random.default_rng(seed)
        for text in captions(scene, rng):
            assert not set(re.findall(r"[a-z]+", text.lower())) & held_out_only, text
        prompt = paraphrase_prompt(scene, rng)
        used_held_out |= set(re.findall(r"[a-z]+", prompt.lower())) & held_out_only
        _assert_parses_to(prompt, scene)
    assert len(used_held_out) > 25


def _phrases(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _phrases(v)
    else:
        for v in value:
            yield from _phrases(v)


@pytest.mark.parametrize(
    "text, objects, background, camera",
    [
        ("a crimson ball drifting rightward across a dark backdrop", [("red", "circle", None, "right")], "black", None),
        ("A small emerald cube falls and bounces on the floor.", [("green", "square", "small", "falling")], None, None),
        (
            "the camera pans left while a big teal wedge ricochets off the walls over a charcoal grey backdrop",
            [("cyan", "triangle", "large", "bouncing")],
            "dark gray",
            "panning left",
        ),
        (
            "a motionless ivory disc and a tangerine box slowly heading up, checkerboard, camera panning right",
            [("white", "circle", None, "still"), ("orange", "square", None, "up")],
            "checkered",
            "panning right",
        ),
        ("Show me a ruby orb cruising from left to right over a pitch-black void.", [("red", "circle", None, "right")], "black", None),
        ("a violet triangle and a golden dot, both resting", [("purple", "triangle", None, "still"), ("yellow", "circle", None, "still")], None, None),
        ("something blue moving left", [("blue", None, None, "left")], None, None),
        ("a red ball. It moves left. The camera does not move.", [("red", "circle", None, "left")], None, "static"),
        ("a lovely sunset over the mountains", [], None, None),
        ("", [], None, None),
    ],
)
def test_parse_prompt_paraphrases(text, objects, background, camera):
    spec = parse_prompt(text)
    assert [(o.color, o.shape, o.size, o.motion) for o in spec.objects] == objects
    assert (spec.background, spec.camera) == (background, camera)


def test_scene_from_prompt_matches_and_fills_in():
    scene = scene_from_prompt("a crimson ball drifting rightward and a falling box on a checkered background", seed=3)
    assert [(o.color, o.shape, o.motion) for o in scene.objects][0] == ("red", "circle", "right")
    assert (scene.objects[1].shape, scene.objects[1].motion) == ("square", "falling")
    assert scene.objects[1].color != "red" and scene.background == "checkered"
    assert scene == scene_from_prompt("a crimson ball drifting rightward and a falling box on a checkered background", seed=3)
    _assert_parses_to(canonical_caption(scene), scene)
    assert scene_from_prompt("a blue cube, camera panning left", seed=0).background in TEXTURED_BACKGROUNDS
    for bad, message in [
        ("a beautiful sunset", "names no object"),
        ("a red ball and a red box", "distinct colours"),
        ("a red ball on a black background, camera panning left", "textured"),
        ("a red ball, a blue ball, a green ball and a white ball", "at most 3"),
    ]:
        with pytest.raises(ValueError, match=message):
            scene_from_prompt(bad, seed=0)
