"""Captions written from a scene's ground truth (re-captioning, as in DALL-E 3 and Sora).

`canonical_caption` is one fixed form, e.g.
"a red circle moving right and a blue square falling on a checkered background, camera panning left".
`captions` adds varied ones, from short ("a crimson ball drifting rightward") to detailed
(sizes, start positions, speeds, background, camera), drawing every word from
`phrases.TRAIN`. `paraphrase_prompt` writes prompts in held-out wording (`phrases.HELD_OUT`)
that no training caption uses, to test generalisation to unseen phrasings.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tenku.world.phrases import HELD_OUT, POSITIONS, TRAIN, Phrasebook
from tenku.world.scene import LINEAR_MOTIONS, Scene, WorldObject

CANONICAL_MOTIONS = {
    "left": "moving left",
    "right": "moving right",
    "up": "moving up",
    "down": "moving down",
    "bouncing": "bouncing",
    "falling": "falling",
    "still": "staying still",
}
# Speeds (frame units per second) below SLOW are "slowly", above QUICK "quickly"; in
# between a caption says neither, so pace words are never wrong at the boundary.
SLOW, QUICK = 0.25, 0.30


def canonical_caption(scene: Scene) -> str:
    """The one fixed caption form: canonical words, objects in scene order, no sizes."""
    parts = [f"{_article(obj.color)} {obj.shape} {CANONICAL_MOTIONS[obj.motion]}" for obj in scene.objects]
    text = f"{_join(parts)} on a {scene.background} background"
    if scene.camera != "static":
        text += f", camera {scene.camera}"
    return text


def captions(scene: Scene, rng: np.random.Generator) -> list[str]:
    """Several captions of one scene: the canonical one first, then varied ones.

    Every caption names each object's colour, shape and motion; sizes, positions, paces,
    the background and the camera appear in some of them."""
    forms = (_short, _on_background, _background_first, _adjectival, _sentences, _detailed)
    return [canonical_caption(scene)] + [form(scene, rng, TRAIN) for form in forms]


def paraphrase_prompt(scene: Scene, rng: np.random.Generator) -> str:
    """A prompt for `scene` in held-out wording: unseen sentence frames and, for every
    attribute, a held-out synonym half the time (so most prompts mix several)."""
    book = _mixed_book(rng)
    frame = _choice(rng, ("Show me {}.", "Picture this: {}.", "Imagine {}.", "I want to see {}.", "Render {}.", "Could you make {}?"))
    body = _adjectival(scene, rng, book) if rng.random() < 0.3 else _on_background(scene, rng, book)
    return frame.format(body)


# --- caption forms ----------------------------------------------------------------------


def _short(scene: Scene, rng: np.random.Generator, book: Phrasebook) -> str:
    """Objects and motions only: "a crimson ball drifting rightward"."""
    return _join([f"{_noun_phrase(obj, rng, book)} {_participle(obj, rng, book)}" for obj in scene.objects])


def _on_background(scene: Scene, rng: np.random.Generator, book: Phrasebook) -> str:
    """Objects, then the background and camera: "an azure box sliding left over a charcoal backdrop"."""
    objects = _join([f"{_noun_phrase(obj, rng, book, size=0.3)} {_participle(obj, rng, book)}" for obj in scene.objects])
    preposition = _choice(rng, ("on", "against", "over", "in front of", "across"))
    return f"{objects} {preposition} {_article(_choice(rng, book.backgrounds[scene.background]))}{_camera_clause(scene, rng, book)}"


def _background_first(scene: Scene, rng: np.random.Generator, book: Phrasebook) -> str:
    """Background first: "On a dark backdrop, an ivory cube sliding to the right."."""
    background = _article(_choice(rng, book.backgrounds[scene.background]))
    objects = _join([f"{_noun_phrase(obj, rng, book)} {_participle(obj, rng, book)}" for obj in scene.objects])
    frame = _choice(rng, ("On {bg}, {objects}.", "{bg} with {objects}.", "Over {bg}: {objects}."))
    text = _capitalise(frame.format(bg=background, objects=objects))
    return text + _camera_sentence(scene, rng, book)


def _adjectival(scene: Scene, rng: np.random.Generator, book: Phrasebook) -> str:
    """Motion before the noun where English allows it: "a falling crimson ball"."""
    parts = []
    for obj in scene.objects:
        adjectives = book.motion_adjectives.get(obj.motion)
        if adjectives:
            size = f"{_choice(rng, book.sizes[obj.size])} " if rng.random() < 0.4 else ""
            parts.append(_article(f"{size}{_choice(rng, adjectives)} {_color(obj, rng, book)} {_shape(obj, rng, book)}"))
        else:
            parts.append(f"{_noun_phrase(obj, rng, book, size=0.4)} {_participle(obj, rng, book)}")
    background = _choice(rng, book.backgrounds[scene.background])
    return f"{_join(parts)} on {_article(background)}{_camera_clause(scene, rng, book)}"


def _sentences(scene: Scene, rng: np.random.Generator, book: Phrasebook) -> str:
    """Introduce the objects, then one sentence per motion, referring back by colour:
    "We see a big red ball in the center and a blue cube near the top. The red one rests. ...".
    """
    intros = [f"{_noun_phrase(obj, rng, book, size=0.5)} {_position(obj, rng)}" for obj in scene.objects]
    frames = ("There is {}.", "We see {}.", "The scene contains {}.") if len(intros) == 1 else ("We see {}.", "The scene contains {}.")
    text = _choice(rng, frames).format(_join(intros))
    for obj in scene.objects:
        if len(scene.objects) == 1:
            subject = "It"
        else:
            noun = _choice(rng, ("one", _shape(obj, rng, book)))
            subject = f"The {_color(obj, rng, book)} {noun}"
        text += f" {subject} {_present(obj, rng, book)}."
    adjective = _choice(rng, book.background_adjectives[scene.background])
    text += f" The background is {adjective}."
    return text + _camera_sentence(scene, rng, book)


def _detailed(scene: Scene, rng: np.random.Generator, book: Phrasebook) -> str:
    """Everything: sizes, start positions, paces, background and camera."""
    parts = []
    for obj in scene.objects:
        pace = _pace(obj, rng, book)
        motion = _participle(obj, rng, book)
        if pace:
            motion = f"{pace} {motion}" if rng.random() < 0.5 else f"{motion} {pace}"
        parts.append(f"{_noun_phrase(obj, rng, book, size=1.0)} {_position(obj, rng)} {motion}")
    opener = _choice(rng, ("A video of", "A clip showing", "Footage of", "An animation of", "A scene with"))
    background = _article(_choice(rng, book.backgrounds[scene.background]))
    text = f"{opener} {_join(parts)}, on {background}."
    return text + _camera_sentence(scene, rng, book, always=True)


# --- phrase pieces ----------------------------------------------------------------------


def _noun_phrase(obj: WorldObject, rng: np.random.Generator, book: Phrasebook, size: float = 0.0) -> str:
    """An article, colour and shape ("a crimson ball"), with a size adjective with probability `size`."""
    words = [_color(obj, rng, book), _shape(obj, rng, book)]
    if rng.random() < size:
        words.insert(0, _choice(rng, book.sizes[obj.size]))
    return _article(" ".join(words))


def _color(obj: WorldObject, rng: np.random.Generator, book: Phrasebook) -> str:
    return _choice(rng, book.colors[obj.color])


def _shape(obj: WorldObject, rng: np.random.Generator, book: Phrasebook) -> str:
    return _choice(rng, book.shapes[obj.shape])


def _motion_verbs(obj: WorldObject, book: Phrasebook) -> list[tuple[str, str]]:
    """(participle, present) phrases for the object's motion."""
    if obj.motion in LINEAR_MOTIONS:
        verbs = [(ing, s) for ing, s in book.move_verbs]
        directions = book.directions[obj.motion]
        composed = [(f"{ing} {d}", f"{s} {d}") for ing, s in verbs for d in directions]
        composed += list(book.directed_verbs.get(obj.motion, ()))
        composed += [(f"{ing} {p}", f"{s} {p}") for ing, s in verbs[:1] for p in book.directed_phrases.get(obj.motion, ())]
        return composed
    return list(book.motion_verbs[obj.motion])


def _participle(obj: WorldObject, rng: np.random.Generator, book: Phrasebook) -> str:
    options = _motion_verbs(obj, book)
    return options[int(rng.integers(len(options)))][0]


def _present(obj: WorldObject, rng: np.random.Generator, book: Phrasebook) -> str:
    options = _motion_verbs(obj, book)
    text = options[int(rng.integers(len(options)))][1]
    pace = _pace(obj, rng, book)
    return f"{text} {pace}" if pace and rng.random() < 0.7 else text


def _pace(obj: WorldObject, rng: np.random.Generator, book: Phrasebook) -> str | None:
    """A pace adverb ("slowly", "quickly") for linear motions clearly slow or fast, else None."""
    if obj.motion not in LINEAR_MOTIONS:
        return None
    if obj.speed < SLOW:
        return _choice(rng, book.paces["slow"])
    if obj.speed > QUICK:
        return _choice(rng, book.paces["quick"])
    return None


def _position(obj: WorldObject, rng: np.random.Generator) -> str:
    """Where the object starts, on a 3x3 grid: "in the upper left"."""
    x, y = obj.position
    column = "left" if x < 1 / 3 else "right" if x > 2 / 3 else "center"
    row = "top" if y < 1 / 3 else "bottom" if y > 2 / 3 else "middle"
    return _choice(rng, POSITIONS[row, column])


def _camera_clause(scene: Scene, rng: np.random.Generator, book: Phrasebook) -> str:
    """A trailing clause (", camera panning left"): always for pans, sometimes for a static camera."""
    if scene.camera == "static" and rng.random() < 0.7:
        return ""
    clause = _choice(rng, book.cameras[scene.camera])
    joiner = _choice(rng, (", ", ", while ", ", as ")) if clause.startswith("the ") else ", "
    return joiner + clause


def _camera_sentence(scene: Scene, rng: np.random.Generator, book: Phrasebook, always: bool = False) -> str:
    """A closing sentence about the camera: always for pans (or if `always`), sometimes for a static one."""
    if scene.camera == "static" and not always and rng.random() < 0.7:
        return ""
    clause = _choice(rng, book.cameras[scene.camera])
    # Turn a noun phrase into a sentence: "static camera" -> "the camera is static",
    # "camera panning left" / "panning left" -> "the camera is panning left".
    if clause.endswith(" camera"):
        clause = f"the camera is {clause.removesuffix(' camera')}"
    elif not clause.startswith("the "):
        clause = f"the camera is {clause.removeprefix('camera ')}"
    return f" {_capitalise(clause)}."


def _join(parts: list[str]) -> str:
    """Join as "a", "a and b", "a, b and c"."""
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def _article(phrase: str) -> str:
    return f"{'an' if phrase[0] in 'aeiou' else 'a'} {phrase}"


def _capitalise(text: str) -> str:
    return text[0].upper() + text[1:]


def _choice(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _mixed_book(rng: np.random.Generator) -> Phrasebook:
    """Per attribute (and per key, e.g. per colour), HELD_OUT wording with probability
    1/2, else TRAIN's."""

    def pick(held, train):
        if not isinstance(held, dict):
            return held if rng.random() < 0.5 else train
        keys = dict.fromkeys([*train, *held])  # ordered union
        return {key: (held.get(key) if rng.random() < 0.5 else None) or train.get(key, ()) for key in keys}

    return Phrasebook(**{f.name: pick(getattr(HELD_OUT, f.name), getattr(TRAIN, f.name)) for f in dataclasses.fields(Phrasebook)})
