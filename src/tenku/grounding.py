"""Grounding loss: teach the transformer's cross-attention which object each colour word names.

Session 13 found how the shipped model fails on two-object prompts: it draws both objects in the
right colours and both motions, but gives each motion to either object at random (for "a yellow
triangle moving left and a blue square moving up" it often moves the yellow triangle up and the
blue square left). The world's start positions depend on the motion (a left-mover starts near the
right edge, so it stays in view), so the model can predict a blob's motion from where it is without
ever tying it to the blob's colour words.

The world knows where every object is in every frame, so training can say so directly, as
TokenCompose (Wang et al. 2024) does with segmentation masks: the words that describe an object
(its colour words, which name it since colours are distinct within a scene, and the shape, size
and motion words of the clause that names it) should send their cross-attention to the latent
tokens the object covers. For such a word token l with attention column a_l over the video tokens
(softmax over text per video token, averaged over heads and blocks), the loss is
(1 - sum over the object's tokens of a_l / sum of a_l)^2, averaged over the words of a batch. Video
tokens stay free to attend to any word; the loss only places where each word's attention lands.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from tenku.text import CLAUSE_BREAK

REGION_MARGIN = 0.5
"""Latent cells count as an object's when their centre lies within its extent plus this many cells."""
MIN_VISIBLE = 0.25
"""Frames where less of the object than this shows (hidden or out of view) give it no cells."""


def object_regions(truth, latent_size: tuple[int, int], max_objects: int = 3) -> np.ndarray:
    """`(max_objects, T_lat, h, w)` bool: the latent cells each object of a render covers.

    Latent frame 0 holds pixel frame 0, latent frame j >= 1 holds pixel frames 4j-3 .. 4j (the
    VAE's groups); a cell belongs to an object if it does in any frame of its group. Missing
    objects (fewer than `max_objects`) are all False."""
    h, w = latent_size
    num_frames = len(truth.times)
    t_lat = 1 + (num_frames - 1) // 4
    cell_x = (np.arange(w) + 0.5) * truth.width / w  # (w,) px
    cell_y = (np.arange(h) + 0.5) * truth.height / h  # (h,) px
    cell = 0.5 * (truth.width / w + truth.height / h)  # px per cell
    regions = np.zeros((max_objects, t_lat, h, w), dtype=bool)
    for o, obj in enumerate(truth.objects[:max_objects]):
        reach = obj.radius * 1.15 + REGION_MARGIN * cell  # circles' radius; squares' corners reach 1.41x, cells are coarse
        for f in range(num_frames):
            if obj.visible[f] < MIN_VISIBLE:
                continue
            j = 0 if f == 0 else (f + 3) // 4
            near_x = np.abs(cell_x - obj.center[f, 0]) <= reach  # (w,)
            near_y = np.abs(cell_y - obj.center[f, 1]) <= reach  # (h,)
            regions[o, j] |= near_y[:, None] & near_x[None, :]
    return regions


def word_spans(text: str, words: tuple[str, ...]) -> list[tuple[int, int]]:
    """Character spans of whole-word, case-insensitive occurrences of any of `words` in `text`
    (a hyphen in a word also matches a space, "snow-white" = "snow white")."""
    spans = []
    for word in sorted(words, key=len, reverse=True):  # longer words first: "snow-white" before "white"
        pattern = r"\b" + r"[\s-]".join(re.escape(part) for part in re.split(r"[\s-]", word)) + r"\b"
        for m in re.finditer(pattern, text, flags=re.IGNORECASE):
            if not any(a < m.end() and m.start() < b for a, b in spans):
                spans.append((m.start(), m.end()))
    return sorted(spans)


def clause_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the text's clauses: the pieces between punctuation and the words "and" /
    "while" (as `text.split_clauses` cuts them)."""
    spans, begin = [], 0
    for m in CLAUSE_BREAK.finditer(text):
        spans.append((begin, m.start()))
        begin = m.end()
    spans.append((begin, len(text)))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def object_token_groups(tokenizer, text: str, colours: list[str], colour_words: dict[str, tuple[str, ...]],
                        attribute_words: tuple[str, ...], *, prefix: int, max_pieces: int,
                        length: int) -> np.ndarray | None:
    """`(len(colours), length)` bool: the encoded prompt's states (`length` of them, padding included)
    that name each object, counting `prefix` special tokens before the first word piece.

    An object's words are its colour words (`colour_words[colour]`; colours are distinct within a
    scene, so they identify it) wherever they occur, and every word of `attribute_words` (shapes,
    sizes, motions, paces) in a clause that names this object's colour and no other's ("a yellow
    square falling", "The red one rests"). None when the text is empty, a colour is not found, or
    the text has more than `max_pieces` word pieces (one encoder window; longer prompts are not
    grounded)."""
    if not text:
        return None
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    offsets = encoded["offset_mapping"]
    if len(offsets) > max_pieces or prefix + len(offsets) > length:
        return None
    named = [word_spans(text, colour_words[colour]) for colour in colours]  # colour words of each object
    if not all(named):
        return None
    attributes = word_spans(text, attribute_words)
    groups = np.zeros((len(colours), length), dtype=bool)

    def mark(o: int, a: int, b: int) -> None:
        for i, (s, e) in enumerate(offsets):
            if s < b and a < e:
                groups[o, prefix + i] = True

    for o, spans in enumerate(named):
        for a, b in spans:
            mark(o, a, b)
    for (begin, end), owner in owned_clauses(text, named):
        for a, b in attributes:
            if begin <= a < end:
                mark(owner, a, b)
    return groups


def owned_clauses(text: str, named: list[list[tuple[int, int]]]) -> list[tuple[tuple[int, int], int]]:
    """The clauses of `text` (`clause_spans`) that name exactly one object, each with that object's
    index; `named` holds each object's colour-word spans. A clause's shape, size and motion words
    belong to the one object it names."""
    owned = []
    for begin, end in clause_spans(text):
        owners = [o for o, spans in enumerate(named) if any(begin <= a < end for a, _ in spans)]
        if len(owners) == 1:
            owned.append(((begin, end), owners[0]))
    return owned


def attribute_vocabulary(*books) -> tuple[str, ...]:
    """The words of every shape, size, motion and pace phrase of the phrasebooks, without the small
    words they share with other text ("the", "to", ...)."""
    phrases: list[str] = []
    for book in books:
        for table in (book.shapes, book.sizes, book.directions, book.directed_phrases, book.motion_adjectives, book.paces):
            phrases += [p for options in table.values() for p in options]
        for table in (book.directed_verbs, book.motion_verbs):
            phrases += [form for options in table.values() for pair in options for form in pair]
        phrases += [form for pair in book.move_verbs for form in pair]
    small = {"a", "an", "the", "to", "of", "off", "from", "on", "in", "at", "is", "its", "way", "under", "and", "does", "not"}
    words = {w for p in phrases for w in re.split(r"[\s]+", p.lower()) if w and w not in small}
    return tuple(sorted(words))


@lru_cache(maxsize=1)
def world_vocabulary() -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """The world's colour words by colour and its attribute words (`attribute_vocabulary`), training
    and held-out phrasings together; built once."""
    from tenku.world.phrases import HELD_OUT, TRAIN

    colour_words = {name: TRAIN.colors[name] + HELD_OUT.colors[name] for name in TRAIN.colors}
    return colour_words, attribute_vocabulary(TRAIN, HELD_OUT)


def encoder_layout(text_encoder) -> dict[str, int]:
    """`object_token_groups`' `prefix` and `max_pieces` for an encoder of `tenku.text`: the special
    tokens before the first word piece, and the word pieces of one window."""
    return {"prefix": len(text_encoder.prefix), "max_pieces": text_encoder.window - text_encoder.num_special}


@lru_cache(maxsize=1)
def training_vocabulary() -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """The world's colour words by colour and attribute words of the training phrasings only: the
    words the shipped model learned, which is all a sampler may assume about a prompt."""
    from tenku.world.phrases import TRAIN

    return dict(TRAIN.colors), attribute_vocabulary(TRAIN)


def prompt_object_groups(tokenizer, prompt: str, *, prefix: int, max_pieces: int, length: int,
                         min_objects: int = 2) -> np.ndarray | None:
    """`(O, length)` bool: each object's word states in an encoded prompt, for sampling.

    Training knows a caption's objects from the world; a user's prompt has to be read. Its objects
    are the training colours whose words it contains (colours are distinct within a scene), in the
    order they first appear; their words are then found as in training (`object_token_groups`).
    None unless the prompt names `min_objects` or more such colours and fits one encoder window."""
    colour_words, attributes = training_vocabulary()
    colours = prompt_colours(prompt)
    if len(colours) < max(1, min_objects):
        return None
    return object_token_groups(tokenizer, prompt, colours, colour_words, attributes,
                               prefix=prefix, max_pieces=max_pieces, length=length)


def prompt_shape_groups(tokenizer, prompt: str, *, prefix: int, max_pieces: int,
                        length: int) -> tuple[np.ndarray, np.ndarray] | None:
    """`(O, length)` bool twice: each object's colour-word states and its shape-word states in an
    encoded prompt, for the shape term of attention-guided sampling (`shape_loss`). Objects are
    read as in `prompt_object_groups`; an object's shape words are the training shape words of the
    clauses that name it alone. None unless two or more objects have a shape word and the prompt
    fits one encoder window."""
    colour_words, _ = training_vocabulary()
    colours = prompt_colours(prompt)
    if len(colours) < 2:
        return None
    layout = {"prefix": prefix, "max_pieces": max_pieces, "length": length}
    colour = object_token_groups(tokenizer, prompt, colours, colour_words, (), **layout)
    if colour is None:
        return None
    shape = object_token_groups(tokenizer, prompt, colours, colour_words, training_shape_words(), **layout) & ~colour
    if int(shape.any(-1).sum()) < 2:
        return None
    return colour, shape


@lru_cache(maxsize=1)
def training_shape_words() -> tuple[str, ...]:
    """The shape words of the training phrasebook ("circle", "box", "wedge", ...)."""
    from tenku.world.phrases import TRAIN

    return tuple(sorted({w for options in TRAIN.shapes.values() for w in options}))


def prompt_colours(prompt: str) -> list[str]:
    """The training colours a prompt names, in the order they first appear: its objects, as
    attention-guided sampling reads them."""
    colour_words, _ = training_vocabulary()
    firsts = sorted((spans[0][0], name) for name, words in colour_words.items() if (spans := word_spans(prompt, words)))
    return [name for _, name in firsts]


MOTION_DIRECTIONS: dict[str, tuple[float, float] | None] = {
    "left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0),
    "falling": (0.0, 1.0), "still": (0.0, 0.0), "bouncing": None,
}
"""Each motion of the world as a direction on screen, (x, y) with y down; None: no one direction."""


@lru_cache(maxsize=1)
def _motion_phrases() -> tuple[tuple[str, str], ...]:
    """(phrase, motion) for every motion phrase of the training phrasebook, longest first."""
    from tenku.world.phrases import TRAIN

    pairs = [(p, d) for d, options in TRAIN.directions.items() for p in options]
    pairs += [(form, m) for table in (TRAIN.directed_verbs, TRAIN.motion_verbs) for m, options in table.items()
              for pair in options for form in pair]
    pairs += [(p, m) for m, options in TRAIN.motion_adjectives.items() for p in options]
    return tuple(sorted(set(pairs), key=lambda pair: len(pair[0]), reverse=True))


GRAVITY_MOTIONS = frozenset({"bouncing", "falling"})
"""The world's motions under gravity: where objects of prompts naming two or three lose persistence."""


def prompt_object_motions(prompt: str, colours: list[str]) -> list[tuple[float, float] | None]:
    """The screen direction of each object of `colours` (`MOTION_DIRECTIONS`) that the prompt's
    training phrasings give it, read from the clauses that name its colour and no other's ("a
    yellow square falling" -> down, "the red one rests" -> still); None where none is given, where
    the motion has no one direction (bouncing), or where the clauses disagree."""
    return [MOTION_DIRECTIONS[next(iter(m))] if len(m) == 1 else None for m in prompt_motion_names(prompt, colours)]


def prompt_motion_names(prompt: str, colours: list[str]) -> list[set[str]]:
    """The world motions (`MOTION_DIRECTIONS`' names) that the training phrasings of the clauses naming
    each object of `colours`, and no other's, give it: {"falling"}, {"left"}, set() where none."""
    colour_words, _ = training_vocabulary()
    named = [word_spans(prompt, colour_words[colour]) for colour in colours]
    found: list[set[str]] = [set() for _ in colours]
    for (begin, end), owner in owned_clauses(prompt, named):
        clause, taken = prompt[begin:end], []
        for phrase, motion in _motion_phrases():
            for a, b in word_spans(clause, (phrase,)):
                if not any(a < y and x < b for x, y in taken):
                    taken.append((a, b))
                    found[owner].add(motion)
    return found


def grounding_loss(maps: list[Tensor], regions: Tensor, groups: Tensor) -> Tensor:
    """TokenCompose's token loss, averaged over grounded words.

    maps: per block `(B, N, L)` cross-attention (softmax over L, mean over heads); regions
    `(B, O, N)` bool, the video tokens of each object; groups `(B, O, L)` bool, each object's word
    tokens (all False for samples or objects that are not grounded). Returns 0 if nothing is."""
    attention = mean_attention(maps)  # (B, N, L)
    column = attention.sum(1)  # (B, L): attention each word receives over all video tokens
    inside = torch.einsum("bon,bnl->bol", regions.to(attention.dtype), attention)  # (B, O, L)
    fraction = inside / column[:, None, :].clamp_min(1e-8)  # (B, O, L)
    weight = groups.to(attention.dtype)
    if weight.sum() == 0:
        return attention.sum() * 0.0
    return (((1 - fraction) ** 2) * weight).sum() / weight.sum()


def binding_loss(maps: list[Tensor], regions: Tensor, groups: Tensor) -> Tensor:
    """The other direction of `grounding_loss`: what each object's video tokens read.

    The token loss places each word's attention, but a video token inside one object may still
    read another object's words as much as its own, and then it can take that object's motion. For
    every video token inside exactly one grounded object's region, of a sample that grounds two or
    more objects, let s be the share of the attention it gives to object words (any object's) that
    goes to its own object's words; the loss is (1 - s)^2 averaged over those tokens. Attention to
    the other words (background, camera, special tokens) is left alone. Arguments as for
    `grounding_loss`; returns 0 if no token qualifies. Session 16 measured s on the shipped
    weights: 0.49 / 0.71 / 0.80 / 0.82 at t = 0.95 / 0.8 / 0.6 / 0.3 with two or three objects
    (chance ~0.41); stage 15, trained with this loss at weight 0.3, reached 0.56 / 0.85 / 0.93 /
    0.94 and yet bound objects in its samples no better (the tenku-v0 card), so the recipe of the
    shipped model leaves it off."""
    attention = mean_attention(maps)  # (B, N, L)
    grounded = groups.any(-1)  # (B, O)
    per_object = torch.einsum("bnl,bol->bno", attention, groups.to(attention.dtype))  # (B, N, O)
    own = regions & grounded[:, :, None] & (grounded.sum(-1) >= 2)[:, None, None]  # (B, O, N)
    own = own & (own.sum(1, keepdim=True) == 1)  # tokens of exactly one object
    weight = own.transpose(1, 2).to(attention.dtype)  # (B, N, O)
    if weight.sum() == 0:
        return attention.sum() * 0.0
    share = per_object / per_object.sum(-1, keepdim=True).clamp_min(1e-8)  # (B, N, O)
    return (((1 - share) ** 2) * weight).sum() / weight.sum()


def mean_attention(maps: list[Tensor]) -> Tensor:
    """Per-block `(B, N, L)` cross-attention maps -> their mean over blocks, float32."""
    return torch.stack(maps).float().mean(0)


def token_regions(regions: Tensor, patch_size: tuple[int, int, int]) -> Tensor:
    """`(B, O, T, h, w)` latent-cell regions -> `(B, O, N)` over the transformer's patches in `t h w`
    order: a patch belongs to an object if any of its cells does."""
    b, o, t, h, w = regions.shape
    pt, ph, pw = patch_size
    cells = regions.to(torch.uint8).reshape(b, o, t // pt, pt, h // ph, ph, w // pw, pw)
    return cells.amax(dim=(3, 5, 7)).reshape(b, o, -1).bool()


def _object_shares(maps: list[Tensor], groups: Tensor) -> tuple[Tensor, Tensor]:
    """`(N, O)` each video token's attention to each object's words (one sample's maps, blocks
    averaged) and how that attention divides among the objects."""
    attention = mean_attention(maps)[0]  # (N, L)
    per_object = attention @ groups.to(attention.dtype).T  # (N, O)
    return per_object, per_object / per_object.sum(-1, keepdim=True).clamp_min(1e-8)


def separation_loss(maps: list[Tensor], groups: Tensor, grid: tuple[int, int, int]) -> Tensor:
    """What attention-guided sampling (`Pipeline`, `binding_guidance`) descends: the objects of a
    prompt should each hold a place of their own in every latent frame.

    maps: per block `(1, N, L)` cross-attention of one sample; groups `(O, L)` bool, each object's
    word states (`prompt_object_groups`); grid `(T, H, W)` the tokens' layout. For each video token,
    `share` is how its attention to object words divides among the objects. Two terms, after
    Attend-and-Excite (Chefer et al. 2023) and Divide & Bind (Li et al. 2023):
    - excite: for each object and latent frame, 1 - the largest share any token (3x3-smoothed)
      gives it, so no object goes missing from a frame;
    - commit: 1 - each token's largest share, weighted by how much it reads object words, so no token
      reads two objects' words at once (where motions and shapes swap).
    Why at sampling time: the layout of a sample is drawn at high t, where the shipped model's tokens
    read both objects' words almost evenly (session 16), and training losses that sharpen the
    attention on true layouts did not change how samples bind. On the 54 tuning prompts with two or
    three objects (`benchmarks/guidance_sweep.py --num 96 --min-objects 2`), steps of 0.05 down to
    t = 0.8 raised the mean of the five bars from 43.0% to 63.7% (session 17; the tenku-v0 card)."""
    return _separation(*_object_shares(maps, groups), grid)


def _separation(per_object: Tensor, share: Tensor, grid: tuple[int, int, int]) -> Tensor:
    """`separation_loss` from `_object_shares`."""
    t, h, w = grid
    frames = share.reshape(t, h, w, -1).permute(0, 3, 1, 2)  # (T, O, H, W)
    smooth = F.avg_pool2d(frames, 3, stride=1, padding=1, count_include_pad=False)  # (T, O, H, W)
    excite = (1 - smooth.flatten(2).amax(-1)).mean()
    mass = per_object.sum(-1)  # (N,)
    commit = (mass * (1 - share.amax(-1))).sum() / mass.sum().clamp_min(1e-8)
    return excite + commit


def _place_weights(values: Tensor, grid: tuple[int, int, int]) -> Tensor:
    """`(N, O)` per-token attention to each object -> `(T, hw, O)`: where each object is in each latent
    frame, as the tokens that read it more than most (less the frame's mean, clipped at 0),
    normalised to sum to 1 over the frame."""
    weight = _excess(values, grid)
    return weight / weight.sum(1, keepdim=True).clamp_min(1e-8)


def _excess(values: Tensor, grid: tuple[int, int, int]) -> Tensor:
    """`(N, O)` per-token attention to each object -> `(T, hw, O)`, less each frame's mean, clipped at 0."""
    t, h, w = grid
    weight = values.reshape(t, h * w, -1)
    return F.relu(weight - weight.mean(1, keepdim=True))


MOTION_MARGIN = 0.05
"""Frame widths (or heights) per latent frame that `motion_loss` asks an object's attention to
move: half the world's slowest linear speed (0.18 frame/s, 0.09 per latent frame at 8 fps)."""


def motion_loss(maps: list[Tensor], groups: Tensor, grid: tuple[int, int, int],
                directions: list[tuple[float, float] | None], margin: float = MOTION_MARGIN) -> Tensor:
    """The motion term of attention-guided sampling: each object's place, as its words' attention
    marks it, should move the way the prompt says.

    Arguments as for `separation_loss`, plus each object's screen direction
    (`prompt_object_motions`). An object's place in a latent frame is the centre of its tokens
    weighted by attention to its words times its share of them, less that weight's mean over the
    frame (so the many tokens that read every object a little do not pull it to the middle). Its
    velocity is the least-squares slope of that centre over the latent frames, in frame units per
    latent frame (taken as evenly spaced, though latent 0 holds one frame and the others four). A
    mover is asked for at least `margin` along its direction and at most `margin` across it, a
    still object for at most half of it, each as a hinge in units of `margin`; objects without a
    direction add nothing. After trajectory control through cross-attention maps (TrailBlazer, Ma
    et al. 2023), here as a loss on the sample rather than an edit of the maps. 0 for fewer than
    two latent frames or no directed object."""
    return _motion(*_object_shares(maps, groups), grid, directions, margin)


def _motion(per_object: Tensor, share: Tensor, grid: tuple[int, int, int],
            directions: list[tuple[float, float] | None], margin: float = MOTION_MARGIN) -> Tensor:
    """`motion_loss` from `_object_shares`."""
    t, h, w = grid
    if t < 2 or all(d is None for d in directions):
        return per_object.sum() * 0.0
    centres = _centres(per_object, share, grid)  # (T, O, 2)
    time = torch.arange(t, dtype=centres.dtype) - (t - 1) / 2
    velocity = torch.einsum("t,toc->oc", time, centres) / time.pow(2).sum()  # (O, 2)
    terms = []
    for o, direction in enumerate(directions):
        if direction is None:
            continue
        d = torch.tensor(direction, dtype=centres.dtype)
        if not d.any():
            terms.append(F.relu(velocity[o].pow(2).sum().add(1e-12).sqrt() - margin / 2) / margin)
            continue
        along = velocity[o] @ d
        across = velocity[o] @ torch.stack([-d[1], d[0]])
        terms.append((F.relu(margin - along) + F.relu(across.abs() - margin)) / margin)
    return torch.stack(terms).mean()


def object_centres(maps: list[Tensor], groups: Tensor, grid: tuple[int, int, int]) -> Tensor:
    """`(T, O, 2)` each object's place (x, y in frame units) in each latent frame, as `motion_loss`
    reads it. Arguments as for `separation_loss`."""
    return _centres(*_object_shares(maps, groups), grid)


def _centres(per_object: Tensor, share: Tensor, grid: tuple[int, int, int]) -> Tensor:
    """`object_centres` from `_object_shares`."""
    t, h, w = grid
    weight = _place_weights(per_object * share, grid)  # (T, hw, O)
    ys, xs = torch.meshgrid((torch.arange(h) + 0.5) / h, (torch.arange(w) + 0.5) / w, indexing="ij")
    places = torch.stack([xs.flatten(), ys.flatten()], -1).to(weight.dtype)  # (hw, 2) as (x, y)
    return torch.einsum("tno,nc->toc", weight, places)


def anchor_loss(maps: list[Tensor], groups: Tensor, grid: tuple[int, int, int], anchors: Tensor,
                margin: float = MOTION_MARGIN) -> Tensor:
    """The layout anchor of attention-guided editing (`Pipeline.edit`): each object's place in each
    latent frame (`object_centres`) should stay at `anchors` `(T, O, 2)`, the places its words marked
    at the edit's first step, where the input's layout is still in the latent. The mean distance, in
    units of `margin`. Why: the separation and one-place terms make an edit redraw an object in the
    prompt's colour instead of erasing it (on 80 tuning cases, at step 0.1 without this term, the new
    colour was right in 95% against 76%), but they also move objects; this holds them in place
    (session 27, the tenku-v0 card)."""
    return _anchor(object_centres(maps, groups, grid), anchors, margin)


def _anchor(centres: Tensor, anchors: Tensor, margin: float = MOTION_MARGIN) -> Tensor:
    """`anchor_loss` from `object_centres`."""
    return ((centres - anchors).pow(2).sum(-1).add(1e-12).sqrt() / margin).mean()


def compact_loss(maps: list[Tensor], groups: Tensor, grid: tuple[int, int, int]) -> Tensor:
    """The one-place term of attention-guided sampling: each object's words should mark one place
    per latent frame, not two.

    Arguments as for `separation_loss`. An object's weight over a frame's tokens is its attention
    less that attention's mean over the frame (the tokens that read it more than most), normalised
    to sum to 1; the term is 1 - the most of it that any 3x3 window of tokens holds, averaged over
    objects and frames: 0 where the object's attention sits in one place, about 1/2 where it is
    split between two copies. Aimed at the shipped model's commonest count failure, a prompt's one
    object drawn twice (session 24: each of the four one-object count failures of the canonical
    benchmark). Unlike `separation_loss` it acts on one-object prompts too."""
    return _compact(_object_shares(maps, groups)[0], grid)


def _compact(per_object: Tensor, grid: tuple[int, int, int]) -> Tensor:
    """`compact_loss` from `_object_shares`' per-object attention."""
    t, h, w = grid
    frames = _place_weights(per_object, grid).reshape(t, h, w, -1).permute(0, 3, 1, 2)  # (T, O, H, W)
    window = F.avg_pool2d(frames, 3, stride=1, padding=1, count_include_pad=True) * 9  # 3x3 sums
    return (1 - window.flatten(2).amax(-1)).mean()


def steady_loss(maps: list[Tensor], groups: Tensor, grid: tuple[int, int, int], known: Tensor | None = None) -> Tensor:
    """The steady-size term of attention-guided sampling: each object's words should mark as much of
    every latent frame as of the others, so the object keeps its size from frame to frame.

    Arguments as for `separation_loss`. An object's mass in a latent frame is how much its tokens
    read its words more than the frame's mean does (the sum of that excess, clipped at 0: what
    `_place_weights` normalises away); the term is the coefficient of variation of that mass over
    the latent frames, averaged over objects. Aimed at the shipped model's commonest persistence
    failure, an object that shrinks to a third of its area for a latent frame or two and grows back
    (a resize event; session 30: in "a red circle bouncing", seed 0, the object's mass in latent
    frame 2 fell from 2.2 to 1.8 while the other frames held 2.1 to 2.5, and frames 5-8 came out at
    a third of frame 0's area). 0 for one latent frame.

    With `known` (`(T,)` bool, the latent frames that are given: extend, connect, animate) the known
    frames set the size: the term is the root mean square of each free frame's mass less the known
    frames' mean mass, over that mean, averaged over objects; 0 when every frame is known."""
    return _steady(_object_shares(maps, groups)[0], grid, known)


def _steady(per_object: Tensor, grid: tuple[int, int, int], known: Tensor | None = None,
            objects: Tensor | None = None) -> Tensor:
    """`steady_loss` from `_object_shares`' per-object attention; with `objects` ((O,) bool), averaged
    over those objects only (0 for none)."""
    if grid[0] < 2 or (known is not None and bool(known.all())) or (objects is not None and not bool(objects.any())):
        return per_object.sum() * 0.0
    mass = _excess(per_object, grid).sum(1)  # (T, O)
    if known is None or not bool(known.any()):
        spread = mass.std(0) / mass.mean(0).clamp_min(1e-8)  # (O,)
    else:
        reference = mass[known].mean(0).detach()  # (O,)
        spread = (mass[~known] - reference).pow(2).mean(0).sqrt() / reference.clamp_min(1e-8)
    return (spread if objects is None else spread[objects]).mean()


def shape_loss(maps: list[Tensor], colour_groups: Tensor, shape_groups: Tensor) -> Tensor:
    """The shape term of attention-guided sampling: a video token that reads an object's colour
    words should read that object's shape word, not another object's.

    maps as for `separation_loss`; colour_groups and shape_groups `(O, L)` bool, each object's
    colour-word and shape-word states (`prompt_shape_groups`). For each video token, `colour` is
    how its attention to colour words divides among the objects and `shape` how its attention to
    shape words does; the term is half the L1 distance between the two, weighted by how much the
    token reads shape words: 0 where every token reads the shape of the object whose colour it
    reads, 1 where each reads another's. Aimed at the shipped model's commonest shape failure, an
    object drawn in another object's shape (session 25: 14 of the 28 failed shape checks of the
    canonical benchmark, two of them swaps), after SynGen (Rassin et al. 2023), which pulls a
    modifier's attention onto its noun's. An object without a shape word has none for its tokens
    to read: where they read another's, that counts as wrong."""
    attention = mean_attention(maps)[0]  # (N, L)
    colour = attention @ colour_groups.to(attention.dtype).T  # (N, O)
    shape = attention @ shape_groups.to(attention.dtype).T  # (N, O)
    mass = shape.sum(-1)  # (N,)
    # colour is the anchor: the term moves which shape a token reads, never which colour (left free,
    # a token in one object's place that read another's shape word was as well served by turning
    # into a second copy of that other object, and was: session 25)
    colour = (colour / colour.sum(-1, keepdim=True).clamp_min(1e-8)).detach()
    shape = shape / mass.unsqueeze(-1).clamp_min(1e-8)
    gap = 0.5 * (colour - shape).abs().sum(-1)  # (N,)
    mass = mass.detach()
    return (mass * gap).sum() / mass.sum().clamp_min(1e-8)


def guidance_loss(maps: list[Tensor], groups: Tensor, grid: tuple[int, int, int],
                  directions: list[tuple[float, float] | None] = (), motion_weight: float = 0.0,
                  compact_weight: float = 0.0, anchors: Tensor | None = None, anchor_weight: float = 0.0,
                  steady_weight: float = 0.0, known: Tensor | None = None,
                  steady_objects: Tensor | None = None) -> Tensor:
    """What attention-guided sampling descends: `separation_loss`, plus `motion_weight` times
    `motion_loss` (left out when the weight is 0 or no object has a direction), plus
    `compact_weight` times `compact_loss`, plus `anchor_weight` times `anchor_loss` to `anchors`
    (left out when None), plus `steady_weight` times `steady_loss` (with `known`, the given latent
    frames; with `steady_objects`, (O,) bool, over those objects only), from one reading of the maps.
    (`shape_loss` takes a step of its own.)"""
    per_object, share = _object_shares(maps, groups)
    loss = _separation(per_object, share, grid)
    if motion_weight > 0 and any(d is not None for d in directions):
        loss = loss + motion_weight * _motion(per_object, share, grid, directions)
    if compact_weight > 0:
        loss = loss + compact_weight * _compact(per_object, grid)
    if anchors is not None and anchor_weight > 0:
        loss = loss + anchor_weight * _anchor(_centres(per_object, share, grid), anchors)
    if steady_weight > 0:
        loss = loss + steady_weight * _steady(per_object, grid, known, steady_objects)
    return loss
