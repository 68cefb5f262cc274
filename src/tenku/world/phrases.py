"""The one table of words for the world's attributes, shared by captioner and parser.

`TRAIN` holds the phrasings training captions use. `HELD_OUT` holds phrasings that only
`paraphrase_prompt` and the parser use, never a training caption, so a benchmark can ask
whether the model generalises to unseen wording. The parser understands the union, and
the captioner and parser both read these tables, so they cannot drift apart.

Linear motions are composed from a verb and a direction ("drifting" + "rightward"), so
the parser can accept any verb-direction pair, with adverbs between. Phrases are plain
lowercase text; hyphens count as spaces ("snow-white" = "snow white").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Phrasebook:
    """Phrasings of every attribute. Verb entries are (participle, present) pairs, so a
    caption can say "a ball drifting left" or "the ball drifts left"."""

    colors: dict[str, tuple[str, ...]]  # canonical colour -> adjectives
    shapes: dict[str, tuple[str, ...]]  # canonical shape -> nouns
    sizes: dict[str, tuple[str, ...]]  # canonical size -> adjectives
    move_verbs: tuple[tuple[str, str], ...]  # undirected movement verbs, need a direction
    directions: dict[str, tuple[str, ...]]  # left/right/up/down -> direction words
    directed_verbs: dict[str, tuple[tuple[str, str], ...]]  # verbs that imply a direction
    directed_phrases: dict[str, tuple[str, ...]]  # after a verb: "moving from left to right"
    motion_verbs: dict[str, tuple[tuple[str, str], ...]]  # bouncing/falling/still verb phrases
    motion_adjectives: dict[str, tuple[str, ...]]  # before the noun: "a falling ball"
    paces: dict[str, tuple[str, ...]]  # slow/quick -> adverbs
    backgrounds: dict[str, tuple[str, ...]]  # background -> noun phrases ("charcoal backdrop")
    background_adjectives: dict[str, tuple[str, ...]]  # "the background is {charcoal}"
    cameras: dict[str, tuple[str, ...]]  # camera -> clauses ("the camera pans left")


TRAIN = Phrasebook(
    colors={
        "red": ("red", "crimson", "scarlet"),
        "green": ("green", "emerald"),
        "blue": ("blue", "azure", "cobalt"),
        "yellow": ("yellow", "golden"),
        "orange": ("orange", "amber", "tangerine"),
        "purple": ("purple", "violet", "lavender"),
        "cyan": ("cyan", "turquoise", "aqua", "teal"),
        "white": ("white", "ivory", "snow-white"),
    },
    shapes={
        "circle": ("circle", "ball", "disc", "dot", "sphere"),
        "square": ("square", "box", "block", "cube"),
        "triangle": ("triangle", "wedge"),
    },
    sizes={
        "small": ("small", "little", "tiny"),
        "medium": ("medium", "medium-sized", "mid-sized"),
        "large": ("large", "big", "huge"),
    },
    move_verbs=(
        ("moving", "moves"),
        ("drifting", "drifts"),
        ("sliding", "slides"),
        ("heading", "heads"),
        ("travelling", "travels"),
        ("gliding", "glides"),
    ),
    directions={
        "left": ("left", "to the left", "leftward", "leftwards"),
        "right": ("right", "to the right", "rightward", "rightwards"),
        "up": ("up", "upward", "upwards", "toward the top"),
        "down": ("down", "downward", "downwards", "toward the bottom"),
    },
    directed_verbs={
        "up": (("rising", "rises"), ("climbing", "climbs")),
        "down": (("descending", "descends"),),
    },
    directed_phrases={},
    motion_verbs={
        "bouncing": (
            ("bouncing", "bounces"),
            ("bouncing around", "bounces around"),
            ("bouncing off the walls", "bounces off the walls"),
            ("ricocheting off the walls", "ricochets off the walls"),
            ("bouncing between the walls", "bounces between the walls"),
        ),
        "falling": (
            ("falling", "falls"),
            ("dropping", "drops"),
            ("falling and bouncing on the floor", "falls and bounces on the floor"),
            ("dropping to the floor", "drops to the floor"),
            ("falling under gravity", "falls under gravity"),
        ),
        "still": (
            ("staying still", "stays still"),
            ("resting", "rests"),
            ("sitting still", "sits still"),
            ("not moving", "does not move"),
            ("standing still", "stands still"),
        ),
    },
    motion_adjectives={
        "bouncing": ("bouncing",),
        "falling": ("falling", "dropping"),
        "still": ("motionless", "still", "unmoving"),
    },
    paces={"slow": ("slowly", "gently"), "quick": ("quickly", "rapidly", "fast")},
    backgrounds={
        "black": ("black background", "dark backdrop", "black backdrop", "dark background"),
        "dark gray": ("dark gray background", "dark grey background", "charcoal backdrop", "gray background"),
        "checkered": ("checkered background", "checkerboard backdrop", "checkered backdrop"),
        "striped": ("striped background", "striped backdrop", "background of vertical stripes"),
    },
    background_adjectives={
        "black": ("black",),
        "dark gray": ("dark gray", "charcoal", "grey"),
        "checkered": ("checkered", "a checkerboard"),
        "striped": ("striped",),
    },
    cameras={
        "static": ("static camera", "the camera is static", "fixed camera", "the camera stays still"),
        "panning left": ("camera panning left", "the camera pans left", "the camera pans to the left", "panning left"),
        "panning right": ("camera panning right", "the camera pans right", "the camera pans to the right", "panning right"),
    },
)

HELD_OUT = Phrasebook(
    colors={
        "red": ("ruby", "cherry"),
        "green": ("jade",),
        "blue": ("sapphire",),
        "yellow": ("lemon", "canary"),
        "orange": ("pumpkin",),
        "purple": ("plum", "amethyst"),
        "cyan": ("aquamarine",),
        "white": ("pearl", "milky"),
    },
    shapes={"circle": ("orb", "bubble"), "square": ("crate",), "triangle": ("pyramid", "arrowhead")},
    sizes={"small": ("miniature", "petite"), "medium": ("average-sized",), "large": ("giant", "enormous")},
    move_verbs=(
        ("cruising", "cruises"),
        ("scooting", "scoots"),
        ("sailing", "sails"),
        ("making its way", "makes its way"),
        ("going", "goes"),
        ("rolling", "rolls"),
        ("zooming", "zooms"),
        ("floating", "floats"),
        ("traveling", "travels"),
    ),
    directions={
        "left": ("towards the left", "toward the left"),
        "right": ("towards the right", "toward the right"),
        "up": ("towards the top", "skyward"),
        "down": ("towards the bottom", "earthward"),
    },
    directed_verbs={"up": (("ascending", "ascends"),), "down": (("sinking", "sinks"),)},
    directed_phrases={
        "left": ("from right to left",),
        "right": ("from left to right",),
        "up": ("from bottom to top",),
        "down": ("from top to bottom",),
    },
    motion_verbs={
        "bouncing": (
            ("pinballing around", "pinballs around"),
            ("rebounding off the edges", "rebounds off the edges"),
            ("careening off the walls", "careens off the walls"),
        ),
        "falling": (("plummeting", "plummets"), ("tumbling down", "tumbles down"), ("dropping to the ground", "drops to the ground")),
        "still": (("at a standstill", "is at a standstill"), ("frozen in place", "is frozen in place"), ("holding still", "holds still")),
    },
    motion_adjectives={
        "left": ("leftward-moving",),
        "right": ("rightward-moving",),
        "up": ("upward-moving",),
        "down": ("downward-moving",),
        "bouncing": ("rebounding",),
        "falling": ("plummeting",),
        "still": ("stationary",),
    },
    paces={"slow": ("leisurely", "lazily"), "quick": ("swiftly", "briskly")},
    backgrounds={
        "black": ("pitch-black void", "inky black backdrop", "black void"),
        "dark gray": ("slate-gray backdrop", "graphite background", "ashen gray backdrop"),
        "checkered": ("chequered backdrop", "tiled backdrop", "checker-pattern background"),
        "striped": ("pinstriped backdrop", "banded background"),
    },
    background_adjectives={
        "black": ("pitch black",),
        "dark gray": ("slate gray", "graphite"),
        "checkered": ("chequered", "tiled"),
        "striped": ("pinstriped", "banded"),
    },
    cameras={
        "static": ("locked-off camera", "the camera does not move", "stationary camera"),
        "panning left": ("tracking shot to the left", "the view sweeps left", "the camera trucks to the left"),
        "panning right": ("tracking shot to the right", "the view sweeps right", "the camera trucks to the right"),
    },
)

# Rough start positions for detailed captions, by (row, column) of a 3x3 grid.
POSITIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("top", "left"): ("in the upper left", "in the top left corner"),
    ("top", "center"): ("near the top", "at the top"),
    ("top", "right"): ("in the upper right", "in the top right corner"),
    ("middle", "left"): ("on the left side", "on the left"),
    ("middle", "center"): ("in the center", "in the middle"),
    ("middle", "right"): ("on the right side", "on the right"),
    ("bottom", "left"): ("in the lower left", "in the bottom left corner"),
    ("bottom", "center"): ("near the bottom", "at the bottom"),
    ("bottom", "right"): ("in the lower right", "in the bottom right corner"),
}

# Words the parser reads as structure rather than attributes.
CAMERA_NOUNS = ("camera", "view", "viewpoint", "shot")
PAN_VERBS = ("pan", "pans", "panning", "panned", "sweeps", "sweeping", "trucks", "trucking", "tracking shot", "tracks", "tracking")
# Camera phrases that say "static" with no direction to parse.
STATIC_CAMERA_PHRASES = (
    "static camera", "still camera", "fixed camera", "stationary camera", "locked off camera", "locked camera",
    "unmoving camera", "camera static", "camera is static", "camera is still", "camera is fixed", "camera stays still",
    "camera does not move", "camera remains still", "camera holds still", "camera is stationary", "camera is locked off",
    "no camera movement", "no camera motion",
)  # fmt: skip
GENERIC_NOUNS = ("object", "shape", "thing", "one", "item")  # an object of unspecified shape
POSITION_WORDS = ("upper", "lower", "top", "bottom", "center", "centre", "middle", "side", "corner", "near", "in", "at", "on")
SEPARATORS = ("and", "while", "as", "with", "whereas", "then", ",", ".", ";", ":", "!", "?")
ALL_WORDS = ("both", "all", "each", "together")  # "a red ball and a blue box, both falling"
