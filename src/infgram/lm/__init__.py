"""The ∞-gram as a language-model tool.

- :mod:`infgram.lm.perplexity`: a neural LM interpolated with the ∞-gram (Liu et al. 2024),
  with λ tuned on a dev split, and the perplexities before and after;
- :mod:`infgram.lm.gguf`: a GGUF model's tokenizer as a ``tokenizer.json`` (``infgram build
  --tokenizer model.gguf`` converts it itself, through :mod:`infgram.gguf_tokenizer`), and the
  check that an index and a model share one vocabulary;
- :mod:`infgram.lm.neural`: per-token log-probabilities of a GGUF model through
  ``llama-cpp-python`` or ``transformers`` (whichever is installed);
- drafting continuations, n-gram novelty and the Creativity Index live below, in
  :mod:`infgram.query.drafting` and :mod:`infgram.query.novelty` (:meth:`infgram.Index.draft`,
  :meth:`infgram.Index.novelty`, :meth:`infgram.Index.creativity`), re-exported here as
  :func:`draft`, :func:`novelty` and :func:`creativity`.
"""

from __future__ import annotations

from ..query.drafting import draft
from ..query.novelty import creativity, novelty

__all__ = ["creativity", "draft", "novelty"]
