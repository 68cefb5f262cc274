"""Reading prompts back into attributes: `parse_prompt`, the inverse of captioning, and
`scene_from_prompt`, which builds a scene that matches a prompt.

The parser tags the text with a lexicon built from `phrases.TRAIN` and `phrases.HELD_OUT`
(longest phrase first, articles and unknown words ignored), combines verb + direction
tags into motions, then attaches attributes to objects:

- colour and size adjectives wait for the next shape noun ("a small red ball");
- a motion right before a noun phrase belongs to it ("a falling red ball"); otherwise it
  belongs to the latest object that has none ("a red ball moving right");
- a colour names an object: "the red one" refers back to the red ball, since a scene's
  colours are distinct;
- "both"/"all" + motion applies to every object without one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from tenku.world.phrases import (
    ALL_WORDS,
    CAMERA_NOUNS,
    GENERIC_NOUNS,
    HELD_OUT,
    PAN_VERBS,
    POSITION_WORDS,
    POSITIONS,
    SEPARATORS,
    STATIC_CAMERA_PHRASES,
    TRAIN,
)
from tenku.world.scene import MAX_OBJECTS, TEXTURED_BACKGROUNDS, Scene, build_scene, sample_backdrop

PROMPT_STREAM = 2  # scene_from_prompt's random stream, disjoint from the train/test splits


@dataclass(frozen=True)
class ObjectSpec:
    """What a prompt says about one object; None where it says nothing."""

    color: str | None
    shape: str | None
    size: str | None = None
    motion: str | None = None


@dataclass(frozen=True)
class PromptSpec:
    objects: list[ObjectSpec]  # in order of mention; empty if the prompt names no object
    background: str | None = None
    camera: str | None = None  # "static", "panning left", "panning right" or None if unsaid


def parse_prompt(text: str) -> PromptSpec:
    """The attributes a prompt asks for. Unknown words are ignored."""
    tags = _combine(_tag(text))
    objects: list[dict] = []
    pending: dict = {}
    current: dict | None = None
    apply_to_all = False
    backgrounds: set[str] = set()
    camera = None
    for i, (kind, value) in enumerate(tags):
        following = tags[i + 1][0] if i + 1 < len(tags) else None
        if kind in ("color", "size"):
            pending[kind] = value
        elif kind == "shape":
            current = _attach(objects, pending, value)
            pending = {}
        elif kind == "motion":
            if apply_to_all and objects:
                for obj in objects:
                    obj.setdefault("motion", value)
                apply_to_all = False
            elif following in ("color", "size", "shape") or current is None or "motion" in current:
                pending.setdefault("motion", value)  # prenominal, or before any object
            else:
                current["motion"] = value
        elif kind == "all":
            apply_to_all = True
        elif kind == "background":
            backgrounds.add(value)
        elif kind == "camera":
            camera = camera or value
    if "color" in pending:  # "something red moving left"
        _attach(objects, pending, None)
    elif current is not None:  # "... The ball is small."
        for key, value in pending.items():
            current.setdefault(key, value)
    background = next((b for b in (*TEXTURED_BACKGROUNDS, "dark gray", "black") if b in backgrounds), None)
    specs = [ObjectSpec(o.get("color"), o.get("shape"), o.get("size"), o.get("motion")) for o in objects]
    return PromptSpec(objects=specs, background=background, camera=camera)


def scene_from_prompt(prompt: str, seed: int, *, seconds: float = 2.0) -> Scene:
    """A scene matching `prompt`; attributes it leaves open are sampled from `seed`.

    Raises ValueError when the prompt names no object, more than three, repeats a colour,
    or asks for a pan over a plain background."""
    spec = parse_prompt(prompt)
    if not spec.objects:
        raise ValueError(f"prompt names no object (a colour or a shape): {prompt!r}")
    if len(spec.objects) > MAX_OBJECTS:
        raise ValueError(f"prompt names {len(spec.objects)} objects, at most {MAX_OBJECTS} allowed: {prompt!r}")
    if spec.camera not in (None, "static") and spec.background not in (None, *TEXTURED_BACKGROUNDS):
        raise ValueError(f"camera {spec.camera!r} needs a textured background {TEXTURED_BACKGROUNDS}, prompt asks for {spec.background!r}")
    rng = np.random.default_rng([PROMPT_STREAM, seed])
    background, camera = sample_backdrop(rng, spec.background, spec.camera)
    specs = [(o.color, o.shape, o.size, o.motion) for o in spec.objects]
    return build_scene(rng, specs, background=background, camera=camera, seconds=seconds, seed=seed)


def _attach(objects: list[dict], pending: dict, shape: str | None) -> dict:
    """Add the object a noun phrase names, or fill in the one with the same colour."""
    for obj in objects:
        same_color = "color" in pending and obj.get("color") == pending["color"]
        if same_color and (shape is None or obj["shape"] is None or shape == obj["shape"]):
            obj["shape"] = obj["shape"] or shape
            for key, value in pending.items():
                obj.setdefault(key, value)
            return obj
    obj = dict(pending, shape=shape)
    objects.append(obj)
    return obj


# --- lexicon and tagging ----------------------------------------------------------------

_ARTICLES = {"a", "an", "the"}


def _words(text: str) -> tuple[str, ...]:
    """Lowercase words and punctuation, hyphens as spaces, no articles."""
    text = text.lower().replace("n't", " not").replace("'", "")
    tokens = re.findall(r"[a-z0-9]+|[,.;:!?]", text)
    return tuple(t for t in tokens if t not in _ARTICLES)


def _build_lexicon() -> dict[tuple[str, ...], tuple[str, str | None]]:
    """Phrase (as words) -> (kind, value). Kinds: color, shape, size, motion, move (verb
    needing a direction), direction, pace, background, camera, pan, camera_noun,
    position, separator, all."""
    lexicon: dict[tuple[str, ...], tuple[str, str | None]] = {}

    def add(phrase: str, kind: str, value: str | None = None) -> None:
        key = _words(phrase)
        assert lexicon.get(key, (kind, value)) == (kind, value), f"{phrase!r} is both {lexicon[key]} and {(kind, value)}"
        lexicon[key] = (kind, value)

    for word in (*POSITION_WORDS, *(p for options in POSITIONS.values() for p in options)):
        add(word, "position")
    for word in SEPARATORS:
        add(word, "separator")
    for word in ALL_WORDS:
        add(word, "all")
    for word in GENERIC_NOUNS:
        add(word, "shape", None)
    for word in CAMERA_NOUNS:
        add(word, "camera_noun")
    for word in PAN_VERBS:
        add(word, "pan")
    for phrase in STATIC_CAMERA_PHRASES:
        add(phrase, "camera", "static")
    for words, background in (
        (("black", "darkness", "void", "dark backdrop", "dark background"), "black"),
        (("gray", "grey", "charcoal", "slate", "graphite", "dark gray", "dark grey"), "dark gray"),
        (("checkered", "checkerboard", "chequered", "checker", "tiled", "tiles"), "checkered"),
        (("striped", "stripes", "stripe", "stripy", "pinstriped", "banded"), "striped"),
    ):
        for word in words:
            add(word, "background", background)
    for book in (TRAIN, HELD_OUT):
        for kind, table in (("color", book.colors), ("shape", book.shapes), ("size", book.sizes)):
            for value, words in table.items():
                for word in words:
                    add(word, kind, value)
        for participle, present in book.move_verbs:
            add(participle, "move")
            add(present, "move")
        for direction, words in book.directions.items():
            for word in words:
                add(word, "direction", direction)
        for motion, verbs in (*book.directed_verbs.items(), *book.motion_verbs.items()):
            for participle, present in verbs:
                add(participle, "motion", motion)
                add(present, "motion", motion)
        for table in (book.directed_phrases, book.motion_adjectives):
            for motion, words in table.items():
                for word in words:
                    add(word, "motion", motion)
        for pace, words in book.paces.items():
            for word in words:
                add(word, "pace", pace)
        for background, words in (*book.backgrounds.items(), *book.background_adjectives.items()):
            for word in words:
                add(word, "background", background)
        for camera, clauses in book.cameras.items():
            for clause in clauses:
                if camera == "static" and _words(clause) not in lexicon:
                    add(clause, "camera", "static")
    # A fall that bounces is still a fall, not "bouncing".
    for fall in ("falling", "falls", "dropping", "drops", "drop", "fall"):
        for tail in ("and bouncing", "and bounces", "and bouncing on floor", "and bounces on floor", "and bouncing on ground", "and bounces on ground"):
            add(f"{fall} {tail}", "motion", "falling")
    for phrase in ("bouncing on floor", "bounces on floor", "bouncing on ground", "bounces on ground", "fall", "drop"):
        add(phrase, "motion", "falling")
    return lexicon


_LEXICON = _build_lexicon()
_LONGEST = max(len(key) for key in _LEXICON)


def _tag(text: str) -> list[tuple[str, str | None]]:
    """Greedy longest-phrase tagging; words not in the lexicon are dropped."""
    words = _words(text)
    tags, i = [], 0
    while i < len(words):
        for length in range(min(_LONGEST, len(words) - i), 0, -1):
            tag = _LEXICON.get(words[i : i + length])
            if tag is not None:
                tags.append(tag)
                i += length
                break
        else:
            i += 1
    return tags


def _combine(tags: list[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    """Turn verb + direction into motions and camera pans:
    [camera_noun] [pace]* (move|pan) [pace]* direction -> camera (with a camera noun or
    pan verb) or motion; camera_noun + still motion -> static camera."""
    out = []
    i = 0
    while i < len(tags):
        kind, value = tags[i]
        j = i + 1 if kind == "camera_noun" else i
        while j < len(tags) and tags[j][0] == "pace":
            j += 1
        if kind == "camera_noun" and j < len(tags) and tags[j] == ("motion", "still"):
            out.append(("camera", "static"))
            i = j + 1
            continue
        if j < len(tags) and tags[j][0] in ("move", "pan"):
            verb = tags[j][0]
            k = j + 1
            while k < len(tags) and tags[k][0] == "pace":
                k += 1
            if k < len(tags) and tags[k][0] == "direction":
                direction = tags[k][1]
                if kind == "camera_noun" or verb == "pan":
                    if direction in ("left", "right"):
                        out.append(("camera", f"panning {direction}"))
                else:
                    out.append(("motion", direction))
                i = k + 1
                continue
            if k < len(tags) and tags[k][0] == "motion" and kind != "camera_noun" and verb == "move":
                i = k  # "moving from left to right": the phrase carries the motion
                continue
        out.append((kind, value))
        i += 1
    # Leftover verbs, adverbs and positions carry nothing more; separators stay, they
    # tell a motion after a noun ("a ball moving right, and") from one before it.
    return [tag for tag in out if tag[0] not in ("move", "pan", "pace", "direction", "camera_noun", "position")]
