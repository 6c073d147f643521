"""``infgram export --format infini-gram``, then the official engine itself on the export: the
same answers as infgram on the original. Needs the official package's virtualenv
(``~/.cache/infgram-bench/official-venv``, as ``benchmarks/vs_official.py`` creates it); skipped
without it (the other tests of this folder use recorded replies instead)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import infgram
from infgram.apps.official import adopt, export_official

OFFICIAL_PYTHON = Path(os.environ.get("INFGRAM_BENCH_CACHE", Path.home() / ".cache" / "infgram-bench")) / \
    "official-venv" / "bin" / "python"
QUERIES = ["the", "cat", "The cat", "sat on", "zebra", "e", " ", "rose"]

_SCRIPT = """
import json, sys
from infini_gram.engine import InfiniGramEngine
index_dir, queries = sys.argv[1], json.loads(sys.argv[2])
engine = InfiniGramEngine(index_dir=index_dir, eos_token_id=254, vocab_size=255, token_dtype="u8",
                          ds_prefetch_depth=0, sa_prefetch_depth=0, od_prefetch_depth=0)
replies = {"count": [engine.count(q)["count"] for q in queries],
           "infgram_prob": [engine.infgram_prob(q, 32) for q in queries],
           "documents": [engine.get_doc_by_ix(n)["token_ids"] for n in range(engine.get_total_doc_cnt())]}
print(json.dumps(replies))
"""


def official_available() -> bool:
    if not OFFICIAL_PYTHON.exists():
        return False
    probe = subprocess.run([str(OFFICIAL_PYTHON), "-c", "import infini_gram.engine"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not official_available(), reason=f"the official package's virtualenv is not at {OFFICIAL_PYTHON}")
@pytest.mark.parametrize("shard_tokens", [None, 200])
def test_the_official_engine_on_an_export_answers_as_infgram_on_the_original(tmp_path, shard_tokens):
    golden = Path(__file__).resolve().parents[1] / "golden" / "corpus.jsonl"
    documents = [json.loads(line) for line in golden.read_text(encoding="utf-8").splitlines() if line.strip()]
    folder = tmp_path / "exported"  # the official engine picks files by words in the whole path
    infgram.build_from_documents(documents, folder / "ours", progress=False, shard_tokens=shard_tokens)
    ours = infgram.Index.open(folder / "ours")
    export_official(ours, folder / "theirs")
    if shard_tokens:  # infgram's sidecar and keys beside the official files: the official engine ignores them
        adopt(folder / "theirs", "bytes")
    queries = [list(text.encode()) for text in QUERIES]
    result = subprocess.run([str(OFFICIAL_PYTHON), "-c", _SCRIPT, str(folder / "theirs"), json.dumps(queries)],
                            capture_output=True, text=True, check=True)
    replies = json.loads(result.stdout.strip().splitlines()[-1])
    assert replies["count"] == [ours.count(query) for query in queries]
    for query, reply in zip(queries, replies["infgram_prob"]):
        mine = ours.infgram_probability(query, 32)
        separators = ours.num_documents if mine.suffix_length == 0 else 0  # the official empty suffix counts them
        assert (reply["suffix_len"], reply["prompt_cnt"], reply["cont_cnt"]) == \
            (mine.suffix_length, mine.prompt_count + separators, mine.count)
    assert replies["documents"] == [list(ours.document(number).text.encode()) for number in range(ours.num_documents)]
