"""The benchmark: right on known answers (world renders against their truth) and hard to fool."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from tenku.eval import evaluate_video, expected_from_truth, run_selftest
from tenku.eval.detect import PALETTE, detect_video
from tenku.eval.motion import classify_motion
from tenku.eval.tracks import Track
from tenku.world import COLORS, Scene, WorldObject, num_frames_for, render, scene_from_prompt, trajectory, truth_to_json

FPS = 8.0


def _clip(scene: Scene, width: int = 64, height: int = 64, seconds: float = 2.0):
    return render(scene, width, height, num_frames_for(seconds, FPS), FPS)


def _one(
    shape="circle",
    size="medium",
    motion="still",
    color="red",
    position=(0.5, 0.5),
    velocity=(0.0, 0.0),
    background="black",
):
    obj = WorldObject(color=color, shape=shape, size=size, motion=motion, position=position, velocity=velocity, depth=0)
    return Scene(objects=(obj,), background=background)


def _verdicts(result: dict) -> dict:
    return {name: a["pass"] for name, a in result["attributes"].items()}


# --- detection ---------------------------------------------------------------------------


def test_palette_is_the_worlds():
    assert PALETTE == COLORS


@pytest.mark.parametrize("side", [32, 64])
@pytest.mark.parametrize("shape", ["circle", "square", "triangle"])
def test_shape_classifier_on_clean_renders(shape, side):
    rng = np.random.default_rng(side)
    sizes = ["medium", "large"] if side == 32 else ["small", "medium", "large"]
    for size in sizes:
        # White on a grey checker is the hard case: coverage and backdrop are both grey.
        for color, background in (
            ("red", "black"),
            ("blue", "checkered"),
            ("white", "checkered"),
            ("white", "dark gray"),
        ):
            position = tuple(0.5 + rng.uniform(-0.05, 0.05, size=2))
            clip = _clip(
                _one(shape, size, color=color, position=position, background=background), side, side, seconds=0.0
            )
            (blob,) = detect_video(clip.frames)[0]
            track = Track(color=color, blobs=[blob])
            assert track.shape().shape == shape, (size, color, background)
            assert track.size(shape, (side, side)) == size, (size, color, background)
            # Soft coverage recovers the anti-aliased centroid almost exactly.
            assert np.allclose(blob.center, clip.truth.objects[0].center[0], atol=0.2), (size, color, background)


def test_blended_seam_between_objects_is_not_an_object():
    # Red over yellow blends to orange along the seam; orange must not be reported.
    red = WorldObject(
        color="red", shape="square", size="large", motion="still", position=(0.45, 0.5), velocity=(0, 0), depth=0
    )
    yellow = WorldObject(
        color="yellow", shape="circle", size="large", motion="still", position=(0.6, 0.5), velocity=(0, 0), depth=1
    )
    clip = _clip(Scene(objects=(red, yellow), background="dark gray"), 64, 64, seconds=0.0)
    colors = sorted(b.color for b in detect_video(clip.frames)[0])
    assert colors == ["red", "yellow"]


# --- motion models -----------------------------------------------------------------------


@pytest.mark.parametrize("motion", ["still", "left", "right", "up", "down", "bouncing", "falling"])
def test_motion_classifier_on_exact_trajectories(motion):
    velocity = {"left": (-0.2, 0), "right": (0.2, 0), "up": (0, -0.2), "down": (0, 0.2), "bouncing": (0.4, -0.35)}
    start = {"falling": (0.5, 0.2), "up": (0.5, 0.8), "down": (0.5, 0.2), "left": (0.8, 0.5), "right": (0.2, 0.5)}
    obj = WorldObject(
        color="red",
        shape="circle",
        size="medium",
        motion=motion,
        position=start.get(motion, (0.5, 0.5)),
        velocity=velocity.get(motion, (0.0, 0.0)),
        depth=0,
    )
    times = np.arange(33) / FPS
    centers = trajectory(obj, times, 64, 64)[0] * 64  # (T, 2) px
    result = classify_motion(times, centers, frame_size=(64, 64), extents=(6.4,) * 4)
    assert result.motion == motion
    assert result.plausible and result.residual < 0.05


def test_physics_residual_flags_a_teleport_and_a_midair_reversal():
    times = np.arange(17) / FPS
    centers = np.stack([10 + 20 * times, np.full_like(times, 30.0)], axis=-1)
    teleport = centers.copy()
    teleport[9:, 0] += 20
    result = classify_motion(times, teleport, frame_size=(64, 64), extents=(6.4,) * 4)
    assert not result.plausible and result.residual > 3
    # Diagonal motion that turns back in the middle of the frame: no wall to bounce off.
    zigzag = np.stack([20 + 20 * np.minimum(times, 1.0) - 20 * np.maximum(times - 1.0, 0), 20 + 15 * times], axis=-1)
    result = classify_motion(times, zigzag, frame_size=(64, 64), extents=(6.4,) * 4)
    assert result.motion == "bouncing" and not result.plausible


# --- agreement with ground truth --------------------------------------------------------


def test_selftest_agreement_on_40_scenes():
    report = run_selftest(40, seed=0)
    summary = report["summary"]
    assert summary["agreement"] >= 0.99, summary
    for name, stats in summary["attributes"].items():
        assert stats["judged"] >= 30, name
        assert stats["rate"] >= 0.95, (name, stats)
    assert set(report["coverage"]["motion"]) == {"still", "left", "right", "up", "down", "bouncing", "falling"}
    assert len(report["coverage"]["background"]) == 4


# --- hard to fool ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moving():
    """A two-object moving scene, its render and the expectation from its truth."""
    scene = scene_from_prompt("a red circle moving right and a blue square falling on a checkered background", seed=3)
    clip = _clip(scene, 64, 64, seconds=2.0)
    expected = expected_from_truth(truth_to_json(clip.truth)["objects"])
    result = evaluate_video(clip.frames, FPS, expected)
    assert all(v is True for v in _verdicts(result).values()), _verdicts(result)
    return scene, clip, expected


def test_prompt_expectation_passes_the_matching_render(moving):
    scene, clip, _ = moving
    result = evaluate_video(clip.frames, FPS, "a red circle moving right and a blue square falling")
    verdicts = _verdicts(result)
    assert verdicts["color"] and verdicts["shape"] and verdicts["motion"] and verdicts["count"]
    assert verdicts["size"] is None  # the prompt says no size


def test_static_frame_fails_motion(moving):
    _, clip, expected = moving
    frozen = np.repeat(clip.frames[:1], len(clip.frames), axis=0)
    verdicts = _verdicts(evaluate_video(frozen, FPS, expected))
    assert verdicts["motion"] is False
    assert verdicts["color"] and verdicts["shape"]  # the right objects, just not moving


def test_uniform_noise_fails_color_count_shape(moving):
    _, clip, expected = moving
    noise = np.random.default_rng(0).integers(0, 256, size=clip.frames.shape, dtype=np.uint8)
    result = evaluate_video(noise, FPS, expected)
    verdicts = _verdicts(result)
    assert verdicts["color"] is False and verdicts["count"] is False and verdicts["shape"] is False
    assert verdicts["motion"] is False and verdicts["size"] is False
    assert result["objects"] == []


def test_wrong_colour_fails_color(moving):
    scene, _, expected = moving
    swapped = dataclasses.replace(
        scene,
        objects=tuple(dataclasses.replace(o, color="green" if o.color == "red" else o.color) for o in scene.objects),
    )
    verdicts = _verdicts(evaluate_video(_clip(swapped).frames, FPS, expected))
    assert verdicts["color"] is False
    assert verdicts["shape"] is False  # the red circle's shape cannot be found either


def test_object_vanishing_mid_clip_fails_persistence(moving):
    scene, clip, expected = moving
    without = dataclasses.replace(scene, objects=tuple(o for o in scene.objects if o.color != "red"))
    frames = clip.frames.copy()
    half = len(frames) // 2
    frames[half:] = _clip(without).frames[half:]
    result = evaluate_video(frames, FPS, expected)
    assert result["attributes"]["persistence"]["pass"] is False
    assert any(
        e["color"] == "red" and e["kind"] == "vanish" for e in result["attributes"]["persistence"]["unexplained"]
    )
    # Blinking out for two frames in open view is caught too.
    blinking = clip.frames.copy()
    blinking[half : half + 2] = _clip(without).frames[half : half + 2]
    unexplained = evaluate_video(blinking, FPS, expected)["attributes"]["persistence"]["unexplained"]
    assert [(e["kind"], e["frame"]) for e in unexplained if e["color"] == "red"] == [
        ("vanish", half - 1),
        ("appear", half + 2),
    ]


def test_teleport_fails_physics_and_persistence(moving):
    scene, clip, expected = moving
    jumped = dataclasses.replace(
        scene,
        objects=tuple(
            dataclasses.replace(o, position=(o.position[0], (o.position[1] + 0.45) % 0.8 + 0.1))
            if o.color == "red"
            else o
            for o in scene.objects
        ),
    )
    frames = clip.frames.copy()
    half = len(frames) // 2
    frames[half:] = _clip(jumped).frames[half:]
    result = evaluate_video(frames, FPS, expected)
    verdicts = _verdicts(result)
    assert verdicts["physics"] is False and verdicts["persistence"] is False
    red = next(o for o in result["objects"] if o["color"] == "red")
    assert red["residual"] > 3.0


def test_flickering_frames_fail_flicker(moving):
    _, clip, expected = moving
    gain = np.where(np.arange(len(clip.frames)) % 2 == 0, 1.0, 0.85)[:, None, None, None]
    flickering = np.clip(clip.frames * gain, 0, 255).astype(np.uint8)
    result = evaluate_video(flickering, FPS, expected)
    clean = evaluate_video(clip.frames, FPS, expected)
    assert result["attributes"]["flicker"]["pass"] is False
    assert result["flicker"] > 10 * max(clean["flicker"], 0.1)


def test_duplicate_object_fails_count(moving):
    scene, clip, expected = moving
    extra = WorldObject(
        color="red", shape="circle", size="small", motion="still", position=(0.2, 0.85), velocity=(0, 0), depth=2
    )
    doubled = dataclasses.replace(scene, objects=(*scene.objects, dataclasses.replace(extra, color="white")))
    frames = _clip(doubled).frames
    # Repaint the extra (white) object red: two red objects where one was asked for.
    white = np.all(np.abs(frames.astype(int) - COLORS["white"]) < 60, axis=-1)
    frames[white] = COLORS["red"]
    verdicts = _verdicts(evaluate_video(frames, FPS, expected))
    assert verdicts["count"] is False


def test_morphing_shape_fails_shape_and_growing_object_fails_persistence(moving):
    scene, clip, expected = moving
    half = len(clip.frames) // 2

    def changed(**fields):
        objects = tuple(dataclasses.replace(o, **fields) if o.color == "red" else o for o in scene.objects)
        return _clip(dataclasses.replace(scene, objects=objects)).frames

    morphing = clip.frames.copy()
    morphing[half:] = changed(shape="square")[half:]
    assert _verdicts(evaluate_video(morphing, FPS, expected))["shape"] is False
    growing = clip.frames.copy()
    growing[half:] = changed(size="medium")[half:]
    result = evaluate_video(growing, FPS, expected)
    assert any(e["kind"] == "resize" for e in result["attributes"]["persistence"]["unexplained"])


def test_shuffled_frames_fail_physics(moving):
    _, clip, expected = moving
    order = np.random.default_rng(1).permutation(len(clip.frames))
    verdicts = _verdicts(evaluate_video(clip.frames[order], FPS, expected))
    assert verdicts["physics"] is False


# --- command line ------------------------------------------------------------------------


def test_cli_on_a_rendered_directory(tmp_path, capsys):
    from tenku.cli import main

    clips = tmp_path / "clips"
    assert (
        main(
            [
                "world",
                "render",
                "--num",
                "3",
                "--out",
                str(clips),
                "--size",
                "64x64",
                "--seconds",
                "1",
                "--split",
                "test",
            ]
        )
        == 0
    )
    out = tmp_path / "report.json"
    assert main(["eval", str(clips), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["summary"]["num_videos"] == 3
    assert report["summary"]["agreement"] >= 0.99
    assert "color" in capsys.readouterr().out

    # Without ground truth the caption is parsed instead.
    index = clips / "index.jsonl"
    records = [json.loads(line) for line in index.read_text().splitlines()]
    (clips / "prompts.jsonl").write_text(
        "".join(json.dumps({"video": r["video"], "prompt": r["caption"]}) + "\n" for r in records)
    )
    assert main(["eval", str(clips / "prompts.jsonl"), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert {v["expected_from"] for v in report["videos"]} == {"prompt"}
    assert report["summary"]["attributes"]["color"]["rate"] == 1.0

    video = clips / records[0]["video"]
    assert main(["eval", str(video), "--prompt", records[0]["caption"], "--out", str(out)]) == 0
    assert json.loads(out.read_text())["videos"][0]["attributes"]["color"]["pass"] is True
    assert main(["eval", str(video)]) == 2  # a video needs --prompt
    assert main(["eval", str(tmp_path / "missing")]) == 2


def test_cli_selftest_exit_code(capsys):
    from tenku.cli import main

    assert main(["eval", "--selftest", "--num", "4", "--seed", "7"]) == 0
    assert "selftest agreement" in capsys.readouterr().out
