"""A GGUF model's tokenizer, as a ``tokenizer.json`` an index can be built with, and the
check that an index and a model share one vocabulary.

Reading the GGUF metadata and converting its tokenizer lives below, in
:mod:`infgram.gguf_tokenizer` (so that ``infgram build --tokenizer model.gguf`` works without
this package); this module re-exports it and adds

    python -m infgram.lm.gguf model.gguf model.tokenizer.json

for those who want the file. Either way the index's ids are the model's ids.
:func:`check_same_vocabulary` refuses a model whose vocabulary differs from an index's
(compared by size and a SHA-256 of the token strings in id order), so that the two can never
be silently misaligned.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

from ..errors import InputError, UnsupportedOperationError
from ..format import write_text_atomically
from ..gguf_tokenizer import (PRE_TOKENIZERS, read_metadata, read_metadata_from, tokenizer_json,
                              tokenizer_json_text, vocabulary_fingerprint)

__all__ = ["PRE_TOKENIZERS", "check_same_vocabulary", "index_vocabulary", "read_metadata", "read_metadata_from",
           "tokenizer_json", "vocabulary_fingerprint", "write_tokenizer_json"]


def write_tokenizer_json(gguf_path: str | Path, out_path: str | Path) -> Path:
    """Write the tokenizer of a GGUF model as a ``tokenizer.json`` file; returns its path."""
    out = Path(out_path)
    write_text_atomically(out, tokenizer_json_text(gguf_path))
    return out


def index_vocabulary(index: Any) -> list[str | None]:
    """The token strings of an index's tokenizer, by id; refused unless it is a Hugging Face one."""
    vocabulary = getattr(index.tokenizer, "vocabulary", None)
    if not index.tokenizer.text_has_forms or vocabulary is None:
        raise UnsupportedOperationError(
            f"expected an index built with the model's tokenizer, found one built with the {index.tokenizer.kind} "
            "tokenizer; rebuild the index with `infgram build ... --tokenizer MODEL.gguf`")
    return vocabulary()


def check_same_vocabulary(index: Any, model_tokens: Sequence[str], model_name: str) -> None:
    """Raise UnsupportedOperationError unless the index's vocabulary is the model's, id for id."""
    mine = index_vocabulary(index)
    if len(mine) != len(model_tokens) or vocabulary_fingerprint(mine) != vocabulary_fingerprint(model_tokens):
        raise UnsupportedOperationError(
            f"expected the index's tokenizer to be the model's, found a vocabulary of {len(mine):,} tokens (sha256 "
            f"{vocabulary_fingerprint(mine)[:12]}) in the index and of {len(model_tokens):,} (sha256 "
            f"{vocabulary_fingerprint(model_tokens)[:12]}) in {model_name}: their ids would not align; rebuild the "
            "index with the model's tokenizer (`infgram build ... --tokenizer MODEL.gguf`)")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m infgram.lm.gguf MODEL.gguf OUT.json``: write the model's tokenizer.json."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if len(arguments) != 2:
        print("usage: python -m infgram.lm.gguf MODEL.gguf OUT.tokenizer.json", file=sys.stderr)
        return 2
    try:
        out = write_tokenizer_json(*arguments)
    except (InputError, UnsupportedOperationError) as error:
        print(f"infgram: error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {out}: build an index with `infgram build ... --tokenizer {out}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
