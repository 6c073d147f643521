"""The README's Python query examples, run as written on a byte, an sp32k and a llama3 index."""

from __future__ import annotations

import re

import pytest

import infgram
from conftest import ROOT, shared_tokenizer

SENTENCES = ["Natural language models are studied in Paris, France.", "We study natural language. natural language",
             "Berlin is not Paris.\nnatural language processing", "a model of natural language and models"]


def readme_queries() -> list[str]:
    """The ``index.`` lines of the README's Python example."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.startswith("index.")]


@pytest.mark.parametrize("tokenizer", ["bytes", "sp32k", "llama3"])
def test_readme_examples_run_on_every_kind(tokenizer, tmp_path):
    spec = "bytes" if tokenizer == "bytes" else shared_tokenizer(tokenizer)
    documents = [{"text": SENTENCES[number % len(SENTENCES)], "lang": ("en", "de")[number % 2], "year": 1980 + number}
                 for number in range(50)]
    infgram.build_from_documents(documents, tmp_path / "i", tokenizer=spec, progress=False)
    index = infgram.Index.open(tmp_path / "i")
    model_output = text = "We study natural language models in Paris."
    lines = readme_queries()
    assert len(lines) >= 12
    for line in lines:
        if tokenizer == "bytes" and '" language")' in line:
            continue  # the README says: with a tokenizer (a byte index continues by one byte)
        result = eval(line, {"index": index, "model_output": model_output, "text": text})
        assert result is not None, line
    assert index.count("natural language") == 2 * 13 + 12 + 12  # every form, as on a byte index
    assert index.probability("natural language", ".").count > 0
