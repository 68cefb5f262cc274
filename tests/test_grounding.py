import numpy as np
import pytest
import torch

from tenku.dit import DiT, dit_tiny
from tenku.grounding import (
    GRAVITY_MOTIONS,
    anchor_loss,
    attribute_vocabulary,
    binding_loss,
    compact_loss,
    grounding_loss,
    guidance_loss,
    motion_loss,
    object_centres,
    object_regions,
    object_token_groups,
    prompt_colours,
    prompt_motion_names,
    prompt_object_groups,
    prompt_object_motions,
    prompt_shape_groups,
    separation_loss,
    shape_loss,
    steady_loss,
    token_regions,
    word_spans,
)
from tenku.text import load_text_encoder
from tenku.world import captions, render, sample_scene
from tenku.world.render import SHAPE_EXTENTS


@pytest.fixture(scope="module")
def text_encoder():
    return load_text_encoder("minilm")


@pytest.mark.parametrize("seed, size", [(3, (64, 64)), (11, (112, 64)), (12, (64, 112))])
def test_object_regions_cover_every_pixel_of_each_object(seed, size):
    width, height = size
    scene = sample_scene(seed, seconds=2.0, split="train", num_objects=3)
    truth = render(scene, width, height, 17, 8.0).truth
    regions = object_regions(truth, (height // 8, width // 8))
    assert regions.shape == (3, 5, height // 8, width // 8)
    for o, (obj, truth_o) in enumerate(zip(scene.objects, truth.objects)):
        reach = max(SHAPE_EXTENTS[obj.shape]) * truth_o.radius
        for f in range(17):
            if truth_o.visible[f] < 0.25:
                continue
            group = 0 if f == 0 else (f + 3) // 4
            cx, cy = truth_o.center[f]
            # pixels well inside the object lie in cells of its region, in the latent frame of its group
            for dx, dy in ((0, 0), (0.6, 0), (-0.6, 0), (0, 0.6), (0, -0.6)):
                x, y = cx + dx * reach, cy + dy * reach
                if 0 <= x < width and 0 <= y < height:
                    assert regions[o, group, int(y // 8), int(x // 8)], (o, f, x, y)
        assert regions[o].mean() < 0.5  # a region, not the whole frame


def test_object_regions_pad_missing_objects():
    scene = sample_scene(4, seconds=1.0, split="train", num_objects=1)
    regions = object_regions(render(scene, 64, 64, 9, 8.0).truth, (8, 8))
    assert regions[0].any() and not regions[1:].any()


def test_word_spans_match_whole_words_and_hyphens():
    text = "A snow white ball and a reddish box; the Red one rests"
    red = text.index("Red")
    assert word_spans(text, ("red", "crimson")) == [(red, red + 3)]  # not "reddish"
    assert word_spans(text, ("white", "snow-white")) == [(2, 12)]  # the longer phrase wins, once


def test_object_token_groups(text_encoder):
    colour_words = {"red": ("red", "crimson"), "blue": ("blue", "azure"), "green": ("green",)}
    attributes = ("ball", "box", "moving", "left", "falling", "rests", "one")
    text = "a crimson ball moving left and an azure box falling on a black background. The red one rests."
    kwargs = dict(prefix=len(text_encoder.prefix), max_pieces=100, length=40)
    groups = object_token_groups(text_encoder.tokenizer, text, ["red", "blue"], colour_words, attributes, **kwargs)
    tokens = text_encoder.tokenizer.convert_ids_to_tokens(text_encoder.token_ids(text)[0])
    assert groups.shape == (2, 40)
    assert [tokens[i] for i in np.nonzero(groups[0])[0]] == ["crimson", "ball", "moving", "left", "red", "one", "rests"]
    assert [tokens[i] for i in np.nonzero(groups[1])[0]] == ["azure", "box", "falling"]  # not "background"
    two = "a red ball and a blue box, both moving left"  # a clause naming no colour is given to no one
    groups = object_token_groups(text_encoder.tokenizer, two, ["red", "blue"], colour_words, attributes, **kwargs)
    assert groups.sum() == 4
    tokenizer = text_encoder.tokenizer
    assert object_token_groups(tokenizer, "", ["red"], colour_words, attributes, **kwargs) is None
    assert object_token_groups(tokenizer, text, ["green"], colour_words, attributes, **kwargs) is None  # not named
    short = dict(kwargs, max_pieces=5)
    assert object_token_groups(tokenizer, text, ["red"], colour_words, attributes, **short) is None  # over a window


def test_attribute_vocabulary_leaves_out_small_words():
    from tenku.world.phrases import TRAIN

    words = attribute_vocabulary(TRAIN)
    assert {"ball", "triangle", "falling", "leftward", "bounces", "quickly", "huge"} <= set(words)
    assert not {"the", "a", "to", "red", "background", "camera"} & set(words)


def test_every_training_caption_form_is_grounded(text_encoder):
    from tenku.train_dit import word_groups

    for seed in range(6):
        scene = sample_scene(seed, seconds=2.0, split="train")
        texts = captions(scene, np.random.default_rng(seed))
        states, _ = text_encoder.encode(texts)
        groups = word_groups(text_encoder, texts, [[o.color for o in scene.objects]] * len(texts), 3, states.shape[1])
        assert groups.shape == (len(texts), 3, states.shape[1])
        n = len(scene.objects)
        assert groups[:, :n].any(dim=2).all() and not groups[:, n:].any()
        assert not (groups[:, :n].sum(1) > 1).any()  # no word piece is given to two objects
        assert (groups[:, :n].sum(2) >= 2).all()  # more than the colour word alone


def test_grounding_loss_is_zero_when_attention_stays_inside_and_positive_outside():
    regions = torch.zeros(1, 2, 6, dtype=torch.bool)
    regions[0, 0, :2] = True
    regions[0, 1, 2:4] = True
    groups = torch.zeros(1, 2, 3, dtype=torch.bool)
    groups[0, 0, 0] = groups[0, 1, 1] = True
    inside = torch.full((1, 6, 3), 1e-9)
    inside[0, :2, 0] = 1.0  # word 0 attended only from object 0's tokens
    inside[0, 2:4, 1] = 1.0
    inside[0, 4:, 2] = 1.0
    assert grounding_loss([inside], regions, groups).item() < 1e-6
    swapped = inside[:, :, [1, 0, 2]]
    assert grounding_loss([swapped], regions, groups).item() == pytest.approx(1.0, abs=1e-6)
    assert grounding_loss([inside], regions, torch.zeros_like(groups)).item() == 0.0


def test_binding_loss_asks_each_objects_tokens_to_read_its_own_words():
    regions = torch.zeros(1, 3, 6, dtype=torch.bool)
    regions[0, 0, :2] = True
    regions[0, 1, 1:4] = True  # token 1 lies in both objects: not counted
    groups = torch.zeros(1, 3, 4, dtype=torch.bool)
    groups[0, 0, 0] = groups[0, 1, 1] = True  # object 2 is absent (no words, no region)
    own = torch.full((1, 6, 4), 1e-9)
    own[0, :, 3] = 1.0  # every token reads the background word too: that is left alone
    own[0, :2, 0] = 1.0
    own[0, 2:4, 1] = 1.0
    assert binding_loss([own], regions, groups).item() < 1e-6
    swapped = own[:, :, [1, 0, 2, 3]]
    assert binding_loss([swapped], regions, groups).item() == pytest.approx(1.0, abs=1e-6)
    even = own.clone()
    even[0, :4, :2] = 1.0  # tokens read both objects' words alike: share 1/2
    assert binding_loss([even], regions, groups).item() == pytest.approx(0.25, abs=1e-6)
    single = groups.clone()
    single[0, 1] = False  # one grounded object: nothing to confuse it with
    assert binding_loss([swapped], regions, single).item() == 0.0


def test_token_regions_follow_patch_order():
    regions = torch.zeros(1, 1, 2, 4, 4, dtype=torch.bool)
    regions[0, 0, 1, 3, 0] = True
    assert token_regions(regions, (1, 1, 1))[0, 0].nonzero().flatten().tolist() == [16 + 12]
    assert token_regions(regions, (1, 2, 2))[0, 0].nonzero().flatten().tolist() == [4 + 2]


def test_recorded_cross_attention_leaves_the_output_alone_and_trains_toward_the_regions():
    torch.manual_seed(0)
    model = DiT(dit_tiny(in_channels=4, text_dim=8))
    for p in model.parameters():
        if p.abs().sum() == 0:
            p.data.normal_(0, 0.02)
    x, t = torch.randn(2, 4, 2, 4, 4), torch.rand(2)
    text, mask = torch.randn(2, 5, 8), torch.ones(2, 5, dtype=torch.bool)
    mask[1, 3:] = False
    plain = model(x, t, text, mask)
    model.record_cross_attention(True)
    recorded = model(x, t, text, mask)
    torch.testing.assert_close(recorded, plain, atol=1e-5, rtol=1e-5)
    maps = model.cross_attention_maps()
    assert len(maps) == len(model.blocks) and maps[0].shape == (2, 8, 5)  # dit_tiny: 1x2x2 patches, 2 x 2 x 2 tokens
    torch.testing.assert_close(maps[0].sum(-1), torch.ones(2, 8))
    assert maps[0][1, :, 3:].abs().max() == 0  # padding gets no attention
    model.record_cross_attention(False)
    with pytest.raises(RuntimeError, match="record_cross_attention"):
        model.cross_attention_maps()

    regions = torch.zeros(2, 1, 8, dtype=torch.bool)
    regions[:, 0, :2] = True
    groups = torch.zeros(2, 1, 5, dtype=torch.bool)
    groups[:, 0, 1] = True
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    model.record_cross_attention(True)
    for _ in range(30):
        model(x, t, text, mask)
        loss = grounding_loss(model.cross_attention_maps(), regions, groups)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_prompt_object_groups_read_objects_from_the_training_colour_words(text_encoder):
    def groups(prompt, min_objects=2):
        return prompt_object_groups(text_encoder.tokenizer, prompt, prefix=len(text_encoder.prefix),
                                    max_pieces=text_encoder.window - text_encoder.num_special, length=24,
                                    min_objects=min_objects)

    found = groups("a cyan circle moving left and a red square falling on a black background")
    assert found.shape == (2, 24)
    tokens = text_encoder.tokenizer.convert_ids_to_tokens(text_encoder.token_ids("a cyan circle moving left and a red square falling on a black background")[0])
    words = [[tokens[i] for i in np.flatnonzero(row)] for row in found]
    assert words[0] == ["cy", "##an", "circle", "moving", "left"]  # in the order the prompt names them
    assert words[1] == ["red", "square", "falling"]
    assert "black" not in words[0] + words[1]  # the background's colour is not an object
    assert groups("a red square falling on a black background") is None  # one object: nothing to bind
    one = groups("a red square falling on a black background", min_objects=1)
    assert one.shape == (1, 24)  # the one-place term asks for one object's words too
    assert groups("a sapphire square and a red ball") is None  # held-out synonyms are not assumed known


def test_separation_loss_rewards_objects_that_hold_places_of_their_own():
    groups = torch.zeros(2, 5, dtype=torch.bool)
    groups[0, 1] = groups[1, 3] = True
    grid = (2, 4, 4)
    n = 32

    def maps(first, second):
        attention = torch.full((1, n, 5), 0.1)
        attention[0, :, 1], attention[0, :, 3] = first, second
        return [attention / attention.sum(-1, keepdim=True)]

    left = torch.zeros(2, 4, 4)
    left[:, :, :2] = 1.0  # object 0 owns the left half of every frame, object 1 the right
    left = left.flatten()
    separate = separation_loss(maps(left, 1 - left), groups, grid).item()
    even = separation_loss(maps(torch.full((n,), 0.5), torch.full((n,), 0.5)), groups, grid).item()
    only_first = separation_loss(maps(torch.ones(n), torch.zeros(n)), groups, grid).item()
    assert separate == pytest.approx(0.0, abs=1e-5)
    assert even == pytest.approx(1.0, abs=1e-5)  # nobody owns a place (0.5) and every token is torn (0.5)
    assert only_first == pytest.approx(0.5, abs=1e-5)  # object 1 is missing from every frame


ONE_WORD = torch.tensor([[False, False, True, False]])
"""One object whose words are the third of four text states."""


def one_word_maps(marked: torch.Tensor) -> list[torch.Tensor]:
    """`(T, 8, 8)` bool tokens that read the object's word -> one block's `(1, N, 4)` attention:
    1 to the word where marked, 0.05 to every state elsewhere, normalised over the text."""
    attention = torch.full((*marked.shape, 4), 0.05)
    attention[..., 2][marked] = 1.0
    return [(attention / attention.sum(-1, keepdim=True)).reshape(1, -1, 4)]


def steers_a_sample(loss, grid: tuple[int, int, int]) -> bool:
    """Whether `loss(maps, groups, grid)` has a gradient with respect to random attention logits."""
    torch.manual_seed(0)
    logits = torch.randn(1, grid[0] * grid[1] * grid[2], 4, requires_grad=True)
    loss([logits.softmax(-1)], ONE_WORD, grid).backward()
    return bool(logits.grad.abs().sum() > 0)


def test_compact_loss_asks_each_object_for_one_place_per_frame():
    grid = (2, 8, 8)

    def maps(*places):
        marked = torch.zeros(grid, dtype=torch.bool)
        for y, x in places:
            marked[:, y, x] = True
        return one_word_maps(marked)

    assert compact_loss(maps((3, 3)), ONE_WORD, grid).item() == pytest.approx(0.0, abs=1e-6)
    assert compact_loss(maps((3, 3), (3, 4), (4, 3)), ONE_WORD, grid).item() == pytest.approx(0.0, abs=1e-6)
    assert compact_loss(maps((1, 1), (6, 6)), ONE_WORD, grid).item() == pytest.approx(0.5, abs=1e-3)  # drawn twice
    assert compact_loss(maps((1, 1), (1, 6), (6, 1)), ONE_WORD, grid).item() == pytest.approx(2 / 3, abs=1e-3)
    assert steers_a_sample(compact_loss, grid)


def test_steady_loss_asks_each_object_for_the_same_mass_in_every_frame():
    grid = (3, 8, 8)

    def maps(*cells_per_frame):
        marked = torch.zeros(grid, dtype=torch.bool)
        for f, cells in enumerate(cells_per_frame):
            marked[f].view(-1)[:cells] = True  # the object's first `cells` tokens in row order
        return one_word_maps(marked)

    # the same size in every frame, wherever it is: 0
    assert steady_loss(maps(4, 4, 4), ONE_WORD, grid).item() == pytest.approx(0.0, abs=1e-6)
    # excess over each frame's mean: a * n (1 - n / 64) for n tokens that read the word by a more than the rest
    a = (1 - 0.05) / 1.15
    mass = torch.tensor([a * n * (1 - n / 64) for n in (8, 2, 8)])
    expected = (mass.std() / mass.mean()).item()
    assert steady_loss(maps(8, 2, 8), ONE_WORD, grid).item() == pytest.approx(expected, rel=1e-4)
    assert steady_loss(maps(8, 2, 8), ONE_WORD, grid).item() > steady_loss(maps(8, 6, 8), ONE_WORD, grid).item() > 0
    assert steady_loss([torch.full((1, 64, 4), 0.25)], ONE_WORD, (1, 8, 8)).item() == 0.0  # no frames to compare
    assert steers_a_sample(steady_loss, grid)
    # with known frames, their mean mass is the size the free frames are asked for
    known = torch.tensor([True, False, False])
    assert steady_loss(maps(8, 8, 8), ONE_WORD, grid, known).item() == pytest.approx(0.0, abs=1e-6)
    rms = (mass[1:] - mass[0]).pow(2).mean().sqrt() / mass[0]
    assert steady_loss(maps(8, 2, 8), ONE_WORD, grid, known).item() == pytest.approx(rms.item(), rel=1e-4)
    # the size asked for is the known frames', not the free frames' own: two equal free frames smaller
    # than the known one still cost
    assert steady_loss(maps(8, 2, 2), ONE_WORD, grid, known).item() > 0.5
    assert steady_loss(maps(2, 2, 8), ONE_WORD, grid, torch.tensor([True, True, False])).item() > 0.5
    assert steady_loss(maps(8, 2, 8), ONE_WORD, grid, torch.ones(3, dtype=torch.bool)).item() == 0.0  # nothing free
    assert steers_a_sample(lambda m, g, grid: steady_loss(m, g, grid, known), grid)


def test_prompt_shape_groups_split_colour_words_from_shape_words(text_encoder):
    def groups(prompt):
        return prompt_shape_groups(text_encoder.tokenizer, prompt, prefix=len(text_encoder.prefix),
                                   max_pieces=text_encoder.window - text_encoder.num_special, length=24)

    prompt = "a cyan circle moving left and a red box falling on a black background"
    colour, shape = groups(prompt)
    tokens = text_encoder.tokenizer.convert_ids_to_tokens(text_encoder.token_ids(prompt)[0])
    assert [[tokens[i] for i in np.flatnonzero(row)] for row in colour] == [["cy", "##an"], ["red"]]
    assert [[tokens[i] for i in np.flatnonzero(row)] for row in shape] == [["circle"], ["box"]]
    assert groups("a red square falling on a black background") is None  # one object: no shape to confuse
    assert groups("a red one moving left and a blue one falling") is None  # no shape words
    assert groups("a sapphire square and a red ball") is None  # held-out colour words are not assumed known


def test_shape_loss_asks_tokens_to_read_their_own_objects_shape():
    colour = torch.zeros(2, 6, dtype=torch.bool)
    shape = torch.zeros(2, 6, dtype=torch.bool)
    colour[0, 1] = shape[0, 2] = colour[1, 3] = shape[1, 4] = True
    n = 8
    left = torch.arange(n) < n // 2  # object 0's tokens

    def maps(first_shape_at_first):
        attention = torch.zeros(1, n, 6)
        attention[0, :, 0] = attention[0, :, 5] = 0.5  # words that name no object
        attention[0, left, 1] = attention[0, ~left, 3] = 1.0  # each half reads one object's colour
        attention[0, left, 2] = attention[0, ~left, 4] = first_shape_at_first
        attention[0, left, 4] = attention[0, ~left, 2] = 1 - first_shape_at_first
        return [attention / attention.sum(-1, keepdim=True)]

    assert shape_loss(maps(1.0), colour, shape).item() == pytest.approx(0.0, abs=1e-6)  # bound
    assert shape_loss(maps(0.0), colour, shape).item() == pytest.approx(1.0, abs=1e-3)  # shapes swapped
    assert shape_loss(maps(0.5), colour, shape).item() == pytest.approx(0.5, abs=1e-3)
    alone = shape.clone()
    alone[1] = False  # object 1 names no shape: its tokens reading object 0's is wrong, not reading any is fine
    assert shape_loss(maps(0.0), colour, alone).item() == pytest.approx(1.0, abs=1e-3)
    assert shape_loss(maps(1.0), colour, alone).item() == pytest.approx(0.0, abs=1e-6)
    torch.manual_seed(0)
    logits = torch.randn(1, n, 6, requires_grad=True)
    shape_loss([logits.softmax(-1)], colour, shape).backward()
    assert logits.grad[..., [2, 4]].abs().sum() > 0  # it can steer which shape word a token reads
    # and only that: colour is the anchor (a token does not turn into a copy of the object whose shape it reads)
    torch.testing.assert_close(logits.grad[..., [0, 1, 3, 5]], torch.zeros(1, n, 4), atol=1e-7, rtol=0)


def test_steady_term_can_be_asked_of_some_objects_only():
    grid = (3, 8, 8)
    groups = torch.tensor([[False, True, False, False], [False, False, True, False]])
    attention = torch.full((*grid, 4), 0.05)
    for f, (a_cells, b_cells) in enumerate([(8, 8), (8, 2), (8, 8)]):  # the first object steady, the second not
        attention[f, 0].view(-1)[:a_cells] = 0.0
        attention[f, 0, :a_cells, 1] = 1.0
        attention[f, 7, :b_cells, 2] = 1.0
    maps = [(attention / attention.sum(-1, keepdim=True)).reshape(1, -1, 4)]

    def steady(objects):
        return (guidance_loss(maps, groups, grid, steady_weight=1.0, steady_objects=objects)
                - guidance_loss(maps, groups, grid)).item()

    first, second = steady(torch.tensor([True, False])), steady(torch.tensor([False, True]))
    assert second > 0.1 and first < 0.2 * second  # the shrinking object costs, the steady one hardly
    assert steady(None) == pytest.approx((first + second) / 2, rel=1e-4)  # all objects: the mean over both
    assert steady(torch.tensor([False, False])) == 0.0


def test_prompt_motion_names_read_gravity_from_each_objects_clause():
    prompt = "a red square bouncing, a blue circle moving left and a green triangle falling on a black background"
    names = prompt_motion_names(prompt, prompt_colours(prompt))
    assert names == [{"bouncing"}, {"left"}, {"falling"}]
    assert [bool(n & GRAVITY_MOTIONS) for n in names] == [True, False, True]
    prompt = "a red ball and a blue box moving right"
    assert prompt_motion_names(prompt, prompt_colours(prompt)) == [set(), {"right"}]


def test_prompt_object_motions_read_each_objects_clause():
    prompt = ("a white circle moving up, an orange circle moving right and a cyan square bouncing "
              "on a dark gray background, camera panning left")
    colours = prompt_colours(prompt)
    assert colours == ["white", "orange", "cyan"]
    assert prompt_object_motions(prompt, colours) == [(0.0, -1.0), (1.0, 0.0), None]  # bouncing: no one direction
    prompt = "a red ball falls and bounces on the floor while the blue box rises and a green cube rests"
    assert prompt_object_motions(prompt, prompt_colours(prompt)) == [(0.0, 1.0), (0.0, -1.0), (0.0, 0.0)]
    # two directions in one object's clause (its own and the camera's): none is assumed
    prompt = "a red ball moving left with the camera panning right and a green cube"
    assert prompt_object_motions(prompt, prompt_colours(prompt)) == [None, None]
    prompt = "a sapphire ball drifting rightward and a red cube"  # held-out words are not read
    assert prompt_colours(prompt) == ["red"]


def test_motion_loss_is_zero_for_the_asked_motion_and_grows_against_it():
    groups = torch.zeros(2, 6, dtype=torch.bool)
    groups[0, 1] = groups[1, 3] = True
    grid = (5, 8, 8)
    attention = torch.full((5, 8, 8, 6), 0.01)
    for t in range(5):
        attention[t, 4, t, 1] = 1.0  # object 0 moves right one token (1/8 frame) a latent frame
        attention[t, 2, 5, 3] = 1.0  # object 1 stays put
    maps = [(attention / attention.sum(-1, keepdim=True)).reshape(1, -1, 6)]
    assert motion_loss(maps, groups, grid, [(1.0, 0.0), (0.0, 0.0)]).item() == pytest.approx(0.0, abs=1e-6)
    # asked left: 0.125 the wrong way, (0.05 + 0.125) / 0.05 = 3.5, averaged with the still object's 0
    assert motion_loss(maps, groups, grid, [(-1.0, 0.0), (0.0, 0.0)]).item() == pytest.approx(1.75, abs=1e-4)
    # asked down: nothing along, 0.125 across
    assert motion_loss(maps, groups, grid, [(0.0, 1.0), None]).item() == pytest.approx(2.5, abs=1e-4)
    assert motion_loss(maps, groups, grid, [None, None]).item() == 0.0
    assert motion_loss(maps, groups, (1, 8, 40), [(1.0, 0.0), None]).item() == 0.0  # one latent frame: no motion
    torch.manual_seed(0)
    logits = torch.randn(1, 5 * 64, 6, requires_grad=True)
    motion_loss([logits.softmax(-1)], groups, grid, [(1.0, 0.0), (0.0, -1.0)]).backward()
    assert logits.grad.abs().sum() > 0  # it can steer a sample


def test_anchor_loss_holds_each_object_where_it_was():
    groups = torch.zeros(2, 6, dtype=torch.bool)
    groups[0, 1] = groups[1, 3] = True
    grid = (2, 8, 8)

    def maps(x0: int):
        attention = torch.full((2, 8, 8, 6), 0.01)
        attention[:, 4, x0, 1] = 1.0  # object 0 at column x0 in both latent frames
        attention[:, 2, 5, 3] = 1.0  # object 1 stays put
        return [(attention / attention.sum(-1, keepdim=True)).reshape(1, -1, 6)]

    anchors = object_centres(maps(2), groups, grid)
    assert anchors.shape == (2, 2, 2)
    torch.testing.assert_close(anchors[0, 0], torch.tensor([2.5 / 8, 4.5 / 8]), atol=1e-4, rtol=0)
    assert anchor_loss(maps(2), groups, grid, anchors).item() == pytest.approx(0.0, abs=1e-4)
    # object 0 two tokens (0.25 frame) right in both frames: 0.25 / 0.05 = 5, averaged with object 1's 0
    assert anchor_loss(maps(4), groups, grid, anchors).item() == pytest.approx(2.5, abs=1e-3)
    torch.manual_seed(0)
    logits = torch.randn(1, 2 * 64, 6, requires_grad=True)
    anchor_loss([logits.softmax(-1)], groups, grid, anchors).backward()
    assert logits.grad.abs().sum() > 0  # it can steer a sample
