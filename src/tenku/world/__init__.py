"""The procedural world: scenes of coloured shapes in motion, rendered exactly, with
ground truth and captions. It is both the training set and the benchmark.

    scene = sample_scene(seed, seconds=2.0, split="train")
    clip = render(scene, 64, 64, num_frames_for(2.0, 8), 8)   # frames (T, H, W, 3), truth
    texts = captions(scene, rng)                              # canonical caption first
    spec = parse_prompt("a crimson ball drifting rightward across a dark backdrop")
"""

from tenku.world.captions import canonical_caption, captions, paraphrase_prompt
from tenku.world.phrases import HELD_OUT, TRAIN, Phrasebook
from tenku.world.physics import GRAVITY, RESTITUTION, trajectory
from tenku.world.prompts import ObjectSpec, PromptSpec, parse_prompt, scene_from_prompt
from tenku.world.render import CAMERA_SPEED, ObjectTruth, Render, Truth, check_size, render, truth_to_json
from tenku.world.scene import (
    BACKGROUNDS,
    CAMERAS,
    COLORS,
    MOTIONS,
    SHAPES,
    SIZES,
    SPLITS,
    TEXTURED_BACKGROUNDS,
    Scene,
    WorldObject,
    num_frames_for,
    sample_scene,
)

__all__ = [
    "BACKGROUNDS",
    "CAMERAS",
    "CAMERA_SPEED",
    "COLORS",
    "GRAVITY",
    "HELD_OUT",
    "MOTIONS",
    "ObjectSpec",
    "ObjectTruth",
    "Phrasebook",
    "PromptSpec",
    "RESTITUTION",
    "Render",
    "SHAPES",
    "SIZES",
    "SPLITS",
    "Scene",
    "TEXTURED_BACKGROUNDS",
    "TRAIN",
    "Truth",
    "WorldObject",
    "canonical_caption",
    "captions",
    "check_size",
    "num_frames_for",
    "paraphrase_prompt",
    "parse_prompt",
    "render",
    "sample_scene",
    "scene_from_prompt",
    "trajectory",
    "truth_to_json",
]
