"""Colour names a model never saw in training, read as the nearest colour it can draw.

The shipped model learned its colours from the world's training captions (`phrases.TRAIN`:
"red", "crimson", "azure", ...). A user who writes "a sapphire ball" or "a pumpkin cube" uses a
colour word whose MiniLM states lie nowhere near those of "blue" or "orange": MiniLM's sentence
similarity ranks "ruby" and "sapphire" nearest to green (see the tenku-v0 card), so the model has no
way to know the colour. Sora rewrites user prompts into the style of its training captions with a
language model; tenku has no such model offline, but colour names have a plainer answer: a colour
name is a point in colour space. This module looks a word up in matplotlib's colour tables (the
949 names of the XKCD colour survey, and the 148 CSS4 names for those it lacks), converts it to
CIELAB, and replaces it with the nearest colour of the model's palette.

Rules, all of them visible in `ColourNames.read`:
- Words of the training vocabulary are never touched ("orange", "golden", "dark", ...).
- Names of up to three words are looked up, longest first, joined by spaces or hyphens
  ("dark sky blue"); a name next to a training word that is itself a colour name modifies that
  word and stays ("slate" in "slate-gray", "sky" in "sky blue").
- A name directly before a background noun ("background", "backdrop") is read among the background
  colours; any other among the object colours.
- Distance is CIE76 (Euclidean in CIELAB), nearest wins; there is no threshold, since the model can
  draw nothing else.
Words neither table knows ("pearl") stay as written.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

WORD = re.compile(r"[A-Za-z]+")
MAX_NAME_WORDS = 3


def srgb_to_lab(rgb) -> np.ndarray:
    """CIELAB (D65) of sRGB colours in 0-255, shape (..., 3)."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    to_xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = linear @ to_xyz.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


@lru_cache(maxsize=1)
def colour_name_table() -> dict[str, np.ndarray]:
    """Lower-case colour name ("sky blue") -> CIELAB, from matplotlib's XKCD and CSS4 tables; where
    both name a colour, XKCD's survey value wins."""
    try:
        from matplotlib.colors import CSS4_COLORS, XKCD_COLORS, to_rgb
    except ImportError as error:
        raise ImportError("reading colour names needs matplotlib's colour tables: `pip install matplotlib`, or "
                          "turn the reading off (`--literal-prompt`, or colour_names: false in pipeline.json)") from error

    table = {name.lower(): value for name, value in CSS4_COLORS.items()}
    table.update({name.removeprefix("xkcd:").lower(): value for name, value in XKCD_COLORS.items()})
    return {name: srgb_to_lab(np.array(to_rgb(value)) * 255) for name, value in table.items()}


@dataclass(frozen=True)
class Reading:
    """A prompt as the model will read it, with each replaced name: (as written, read as)."""

    prompt: str
    replaced: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ColourNames:
    """Reads unknown colour names as the nearest palette colour.

    `objects` / `backgrounds`: the words to write for each colour the model draws, with its sRGB;
    `known`: every word of the training vocabulary (lower case); a name next to a known word that is
    itself a colour name is left alone; `background_nouns`: words after which a name is read as a
    background colour."""

    objects: dict[str, tuple[int, int, int]]
    backgrounds: dict[str, tuple[int, int, int]]
    known: frozenset[str]
    background_nouns: frozenset[str] = frozenset({"background", "backdrop"})

    def __post_init__(self) -> None:
        if not self.objects:
            raise ValueError("ColourNames needs at least one object colour")

    def read(self, prompt: str) -> Reading:
        words = list(WORD.finditer(prompt))
        lowered = [m.group().lower() for m in words]
        table = colour_name_table()
        edits: list[tuple[int, int, str, str]] = []
        i = 0
        while i < len(words):
            for n in range(min(MAX_NAME_WORDS, len(words) - i), 0, -1):
                if self._is_name(prompt, words, lowered, i, n, table):
                    following = lowered[i + n] if i + n < len(words) else ""
                    palette = self.backgrounds if following in self.background_nouns and self.backgrounds else self.objects
                    start, end = words[i].start(), words[i + n - 1].end()
                    edits.append((start, end, prompt[start:end], _nearest(table[" ".join(lowered[i:i + n])], palette)))
                    i += n
                    break
            else:
                i += 1
        text = prompt
        for start, end, _, colour in reversed(edits):
            text = text[:start] + colour + text[end:]
        return Reading(text, tuple((written, colour) for _, _, written, colour in edits))

    def _is_name(self, prompt: str, words, lowered: list[str], i: int, n: int, table) -> bool:
        span = lowered[i:i + n]
        if " ".join(span) not in table or any(w in self.known for w in span):
            return False
        if any(_gap(prompt, words, k) not in (" ", "-") for k in range(i, i + n - 1)):
            return False
        # next to a training colour word ("slate-gray", "sky blue"): a modifier; the known word says the colour
        for k, gap in ((i - 1, i - 1), (i + n, i + n - 1)):  # gap: the index of the earlier of the two words
            if 0 <= k < len(words) and lowered[k] in self.known and lowered[k] in table \
                    and _gap(prompt, words, gap) in (" ", "-"):
                return False
        return True


def _gap(prompt: str, words, k: int) -> str:
    """The text between word k and word k + 1."""
    return prompt[words[k].end():words[k + 1].start()]


def _nearest(lab: np.ndarray, palette: dict[str, tuple[int, int, int]]) -> str:
    names = list(palette)
    distances = np.linalg.norm(srgb_to_lab([palette[n] for n in names]) - lab, axis=-1)
    return names[int(distances.argmin())]


@lru_cache(maxsize=1)
def world_colour_names() -> ColourNames:
    """The reader for models trained on the world: its object palette, its plain background colours
    ("black", "dark gray"), and every word of its training phrasebook as the known vocabulary."""
    from tenku.world.phrases import TRAIN
    from tenku.world.scene import BACKGROUNDS, COLORS

    known: set[str] = set()

    def collect(value) -> None:
        if isinstance(value, str):
            known.update(w.lower() for w in WORD.findall(value))
        elif isinstance(value, dict):
            for key, item in value.items():
                collect(key)
                collect(item)
        elif isinstance(value, (tuple, list)):
            for item in value:
                collect(item)

    for f in dataclasses.fields(TRAIN):
        collect(getattr(TRAIN, f.name))
    plain = {name: tones[0] for name, tones in BACKGROUNDS.items() if len(tones) == 1}
    return ColourNames(objects=dict(COLORS), backgrounds=plain, known=frozenset(known))
