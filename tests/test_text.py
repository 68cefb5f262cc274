import socket

import pytest
import torch

from tenku.text import HFTextEncoder, TextEncoder, load_text_encoder, minilm_path, split_clauses


@pytest.fixture(scope="module")
def encoder():
    """MiniLM loaded with HF_HUB_OFFLINE=1 and every socket refused: loading must not touch a network."""
    patch = pytest.MonkeyPatch()
    patch.setenv("HF_HUB_OFFLINE", "1")

    def refuse(*args, **kwargs):
        raise AssertionError("the text encoder tried to open a network connection")

    patch.setattr(socket.socket, "connect", refuse)
    patch.setattr(socket, "create_connection", refuse)
    try:
        yield load_text_encoder("minilm", cache_size=4)
    finally:
        patch.undo()


def test_shapes_masks_and_protocol(encoder):
    assert isinstance(encoder, TextEncoder) and encoder.dim == 384
    tokens, mask = encoder.encode(["a small red ball bounces on a wooden floor", "a cube", ""])
    assert tokens.dtype == torch.float32 and mask.dtype == torch.bool
    assert tokens.shape[0] == 3 and tokens.shape[2] == 384 and mask.shape == tokens.shape[:2]
    lengths = mask.sum(1).tolist()
    assert lengths[0] == tokens.shape[1] and lengths[1] == 4  # [CLS] a cube [SEP]
    assert lengths[2] == 2  # the null text: [CLS] [SEP]
    assert (tokens[~mask] == 0).all()


def test_same_prompt_same_encoding_alone_or_batched(encoder):
    prompt = "a blue sphere rolls to the left"
    alone, alone_mask = encoder.encode([prompt])
    encoder._cache.clear()
    assert torch.equal(encoder.encode([prompt])[0], alone)  # deterministic
    encoder._cache.clear()  # recompute, in a padded batch this time
    batched, _ = encoder.encode([prompt + " quickly and then stops", "a green triangle", prompt])
    n = int(alone_mask.sum())
    torch.testing.assert_close(batched[2, :n], alone[0], rtol=1e-4, atol=1e-4)
    assert torch.equal(encoder.encode([prompt])[0][0], batched[2, :n])  # served from the cache


def test_long_prompts_are_encoded_in_windows(encoder):
    long_prompt = "the red ball rolls " * 70
    num_pieces = len(encoder.tokenizer(long_prompt, add_special_tokens=False)["input_ids"])
    assert 254 < num_pieces <= 508  # two windows of at most 256 with [CLS] and [SEP] each
    tokens, mask = encoder.encode([long_prompt, "a cube"])
    assert int(mask[0].sum()) == num_pieces + 2 * 2
    windows = encoder.token_ids(long_prompt)
    assert [len(w) for w in windows] == [256, num_pieces - 254 + 2]
    first = encoder._encode_windows(windows[:1])[0]
    torch.testing.assert_close(tokens[0, :256], first, rtol=1e-4, atol=1e-4)


def test_over_limit_prompt_is_refused(encoder):
    with pytest.raises(ValueError, match="600 tokens.*limit of 512"):
        encoder.encode(["word " * 600])


def test_missing_checkpoint_is_refused():
    with pytest.raises(FileNotFoundError, match="no/such/dir"):
        load_text_encoder("/no/such/dir")


def test_local_directory_loads_like_the_default(encoder):
    by_path = load_text_encoder(minilm_path(), window=64, max_tokens=100)
    assert isinstance(by_path, HFTextEncoder) and by_path.window == 64
    tokens, _ = by_path.encode(["a cube"])
    reference, _ = encoder.encode(["a cube"])
    torch.testing.assert_close(tokens, reference, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["t5", "clip"])
def test_generic_encoders_load_only_their_text_tower(kind, tmp_path, encoder):
    """Tiny random T5 and CLIP checkpoints written locally (with MiniLM's tokenizer) take the
    encoder-only code paths: T5's decoder and CLIP's vision tower are never built."""
    from transformers import CLIPConfig, CLIPModel, T5Config, T5ForConditionalGeneration

    if kind == "t5":
        config = T5Config(vocab_size=30522, d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=4)
        T5ForConditionalGeneration(config).save_pretrained(tmp_path)
        width = 32
    else:
        text = dict(vocab_size=30522, hidden_size=48, intermediate_size=64, num_hidden_layers=1,
                    num_attention_heads=4, max_position_embeddings=16)
        vision = dict(hidden_size=32, intermediate_size=32, num_hidden_layers=1, num_attention_heads=4,
                      image_size=8, patch_size=4)
        CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)).save_pretrained(tmp_path)
        width = 48
    encoder.tokenizer.save_pretrained(tmp_path)
    loaded = load_text_encoder(tmp_path)
    assert loaded.dim == width
    assert "Decoder" not in type(loaded.model).__name__ and not hasattr(loaded.model, "vision_model")
    tokens, mask = loaded.encode(["a red ball " * 6, ""])  # 18 pieces: two CLIP windows of 16
    assert tokens.shape == (2, 18 + 2 * (2 if kind == "clip" else 1), width)
    assert mask.sum(1).tolist() == [tokens.shape[1], 2]


def test_split_clauses():
    assert split_clauses("a yellow square falling and a cyan circle moving left, on a black background.") == [
        "a yellow square falling", "a cyan circle moving left", "on a black background"]
    assert split_clauses("") == [] and split_clauses(" , and . ") == []
    assert split_clauses("Sandy island") == ["Sandy island"]  # "and" only as a word
    assert split_clauses("a, b, c, d", max_clauses=2) == ["a", "b c d"]


def test_clause_tokens_follow_the_prompt_tokens():
    plain = load_text_encoder("minilm", cache_size=0)
    clauses = load_text_encoder("minilm", cache_size=0, clauses=True)
    prompt = "a red ball falling and a blue square moving left"
    tokens, mask = plain.encode([prompt, ""])
    with_clauses, clause_mask = clauses.encode([prompt, ""])
    n = int(mask[0].sum())
    assert clause_mask.sum(1).tolist() == [n + 2, 2]  # two clauses; the null text is unchanged
    torch.testing.assert_close(with_clauses[0, :n], tokens[0, :n], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(with_clauses[1, :2], tokens[1, :2], rtol=1e-4, atol=1e-4)
    for i, clause in enumerate(["a red ball falling", "a blue square moving left"]):
        alone, _ = plain.encode([clause])
        torch.testing.assert_close(with_clauses[0, n + i], alone[0].mean(0), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="max_clauses"):
        load_text_encoder("minilm", clauses=True, max_clauses=0)
