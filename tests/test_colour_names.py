import numpy as np
import pytest

from tenku.colour_names import ColourNames, colour_name_table, srgb_to_lab, world_colour_names
from tenku.world import canonical_caption, captions, sample_scene
from tenku.world.scene import BACKGROUNDS, COLORS


def test_lab_matches_reference_values():
    # sRGB white is L* 100, a* b* 0; pure red is about (53.2, 80.1, 67.2) under D65
    np.testing.assert_allclose(srgb_to_lab([255, 255, 255]), [100, 0, 0], atol=0.05)
    np.testing.assert_allclose(srgb_to_lab([255, 0, 0]), [53.24, 80.09, 67.20], atol=0.05)
    np.testing.assert_allclose(srgb_to_lab([0, 0, 0]), [0, 0, 0], atol=1e-9)


@pytest.mark.parametrize("prompt, read", [
    ("a sapphire ball bouncing", "a blue ball bouncing"),
    ("a navy cube and a lime ball", "a blue cube and a green ball"),
    ("A Ruby square falling", "A red square falling"),
])
def test_unknown_colour_names_become_the_nearest_world_colour(prompt, read):
    reading = world_colour_names().read(prompt)
    assert reading.prompt == read
    assert all(colour in COLORS for _, colour in reading.replaced) and reading.replaced


def test_a_name_of_several_words_is_replaced_whole():
    reading = world_colour_names().read("a hot pink ball")
    assert [written for written, _ in reading.replaced] == ["hot pink"]
    assert reading.prompt == f"a {reading.replaced[0][1]} ball"


def test_known_words_modifiers_and_unknown_words_stay():
    reader = world_colour_names()
    for prompt in ("a sky blue ball", "a slate-gray backdrop", "a pearl ball", "an orange box on a black background",
                   "a golden wedge resting"):
        assert reader.read(prompt).prompt == prompt, prompt


def test_a_name_before_a_background_noun_reads_as_a_background_colour():
    reading = world_colour_names().read("a red ball on a navy background")
    plain = {name for name, tones in BACKGROUNDS.items() if len(tones) == 1}
    assert reading.replaced[0][0] == "navy" and reading.replaced[0][1] in plain
    # the same name before an object noun reads as an object colour
    assert world_colour_names().read("a navy ball").replaced[0][1] in COLORS


def test_training_captions_and_canonical_prompts_are_read_unchanged():
    reader = world_colour_names()
    for seed in range(40):
        scene = sample_scene(seed, seconds=2.0)
        for caption in captions(scene, np.random.default_rng(seed)) + [canonical_caption(scene)]:
            assert reader.read(caption).prompt == caption


def test_palette_comes_from_the_reader_not_the_table():
    reader = ColourNames(objects={"red": (230, 40, 40), "blue": (50, 100, 240)}, backgrounds={}, known=frozenset())
    assert reader.read("a crimson and a navy ball").prompt == "a red and a blue ball"
    assert "crimson" in colour_name_table()
    with pytest.raises(ValueError, match="at least one object colour"):
        ColourNames(objects={}, backgrounds={}, known=frozenset())


def test_missing_colour_tables_give_a_clear_error(monkeypatch):
    import sys

    colour_name_table.cache_clear()
    monkeypatch.setitem(sys.modules, "matplotlib.colors", None)  # import fails as if not installed
    try:
        with pytest.raises(ImportError, match="pip install matplotlib.*--literal-prompt"):
            colour_name_table()
    finally:
        colour_name_table.cache_clear()
