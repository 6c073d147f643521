"""Golden tests: `infgram batch` over a small committed corpus must answer exactly as recorded.

Files beside this test:

- ``corpus.jsonl``: 12 documents of varied English with repeated phrases ("The cat", "sat on
  the", "rose", "the sugar"), one French document with é and €, and metadata fields (``id``,
  ``source`` and a few others: ``lang``, ``tags``, ``year``).
- ``queries.jsonl``: batch requests covering every op of the batch contract
  (``infgram/service/protocol.py``), one blank line (skipped: no reply) and bad requests (unknown
  op, ids out of range or the separator, a ``next`` of several tokens, both ``text`` and
  ``ids``, negative ``top_k``, a too large ``limit``, an invalid JSON line, a JSON array).
- ``expected.jsonl``: the replies in byte mode.
- ``expected_sp32k.jsonl``: the replies with the shared sp32k tokenizer
  (``../shared/tokenizers/sp32k.tokenizer.json``; those tests skip when it is absent).

To regenerate the expected files after an intended change of behaviour, run::

    INFGRAM_REGENERATE_GOLDEN=1 python -m pytest tests/golden -q

then review the diff (``git diff tests/golden``) before committing it. The regenerating run
skips the comparisons (the tests report "regenerated ...").

How expected.jsonl was checked by hand when it was first recorded (byte mode, 523 tokens):

- ``count "the"`` = 18: ``sum(doc.count("the"))`` over the texts (case-sensitive; "there",
  "then" and "the the the the" included). ``count "The cat"`` = 3 (d01 twice, d03 once);
  ``count "café"`` = 2 and ``count "€"`` = 2 (both in d07); ``count "sat on"`` = 3 (d01, d02,
  d11); ``count ""`` = 523 = total UTF-8 bytes of the 12 texts (é, û, à and € are multi-byte).
- ``probability("sat on the ", "m")`` = 1/2: "sat on the mat" (d01) and "sat on the log" (d02).
- ``probability("the", " ")`` = 15/18: the 3 other occurrences are "there", "then" and the last
  "the" of d10, which ends its document.
- ``next_tokens("The ")``: c 3 ("The cat" x3), d 2 ("The dog" x2), r 1 ("The rain").
- ``next_tokens("rose")``: " " 4, "." 1 (d03 twice, d04 three times, the last before ".").
- ∞-gram of "my big fat cat" backs off to " cat" (4 bytes; "t cat" never occurs), seen 4 times,
  always followed by " "; "qqqq" backs off to "q" (once, in "question", followed by "u").
- ``documents("sugar", context=6)``: d05 "Mix the flour and the sugar" puts the match at byte
  22, so the window is bytes 16..33 = "d the sugar, then".
- ``documents("café", context=3)``: window bytes 0..11 = "Le café co" (é is two bytes).
- ``contamination`` of d05 with ", then serve it warm." in place of its final ".": 92
  characters, so 10 windows (the words starting at characters 0 to 42); the 5 that end
  before character 71 lie inside d05: fraction 0.5, suspicious. "Le café coûte" is under 50
  characters, so it is one window, found in d07: dirty.
The test ``test_byte_mode_golden_answers_match_brute_force`` below re-derives every successful
byte-mode answer from the corpus with the brute-force oracle, so the file cannot drift from
the truth unnoticed.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from conftest import run_cli, shared_tokenizer
from infgram import _reference as reference
from infgram.service.protocol import OPERATIONS

GOLDEN = Path(__file__).resolve().parent
CORPUS = GOLDEN / "corpus.jsonl"
QUERIES = GOLDEN / "queries.jsonl"
REGENERATE = os.environ.get("INFGRAM_REGENERATE_GOLDEN") == "1"


def _batch_replies(tmp_path: Path, *build_options: str) -> list[str]:
    index = tmp_path / "index"
    built = run_cli("build", CORPUS, "--out", index, "--quiet", *build_options)
    assert built.returncode == 0, built.stderr
    answered = run_cli("batch", index, input=QUERIES.read_text(encoding="utf-8"))
    assert answered.returncode == 0, answered.stderr
    assert answered.stderr == ""
    return answered.stdout.splitlines()


def _compare_or_regenerate(replies: list[str], expected_path: Path) -> None:
    if REGENERATE:
        expected_path.write_text("".join(line + "\n" for line in replies), encoding="utf-8")
        pytest.skip(f"regenerated {expected_path.name}; review `git diff` before committing")
    expected = expected_path.read_text(encoding="utf-8").splitlines()
    requests = [line for line in QUERIES.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(replies) == len(requests), "one reply per non-blank request line"
    assert len(replies) == len(expected)
    for number, (request, got, want) in enumerate(zip(requests, replies, expected), start=1):
        assert json.loads(got) == json.loads(want), f"reply {number} to {request}"
        assert got == want, f"reply {number} to {request}: same data but different JSON text"


def test_queries_cover_the_whole_batch_contract():
    requests = []
    for line in QUERIES.read_text(encoding="utf-8").splitlines():
        try:
            requests.append(json.loads(line))
        except ValueError:
            pass
    ops = {r.get("op") for r in requests if isinstance(r, dict)}
    assert set(OPERATIONS) <= ops
    assert any(r.get("op") == "count" and r.get("text") == "" for r in requests if isinstance(r, dict))
    documents = [r for r in requests if isinstance(r, dict) and r.get("op") == "documents"]
    for option in ("limit", "offset", "seed", "context"):
        assert any(option in r for r in documents), option


def test_byte_mode_batch_matches_golden(tmp_path):
    _compare_or_regenerate(_batch_replies(tmp_path), GOLDEN / "expected.jsonl")


def test_sp32k_batch_matches_golden(tmp_path):
    tokenizer = shared_tokenizer("sp32k")
    _compare_or_regenerate(_batch_replies(tmp_path, "--tokenizer", tokenizer), GOLDEN / "expected_sp32k.jsonl")


def _corpus() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_golden_corpus_hand_counts():
    """The hand counts quoted in the module docstring, recomputed with str.count."""
    texts = [d["text"] for d in _corpus()]
    assert len(texts) == 12
    assert sum(t.count("the") for t in texts) == 18
    assert sum(t.count("The cat") for t in texts) == 3
    assert sum(t.count("café") for t in texts) == 2
    assert sum(t.count("€") for t in texts) == 2
    assert sum(t.count("sat on") for t in texts) == 3
    assert sum(len(t.encode("utf-8")) for t in texts) == 523
    expected = [json.loads(line) for line in (GOLDEN / "expected.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [e["count"] for e in expected[:9]] == [18, 3, 523, 18, 523, 2, 2, 0, 3]


def _as_ids(value) -> list[int]:
    return list(value.encode("utf-8")) if isinstance(value, str) else list(value)


def _prompt(request: dict) -> list[int]:
    for key in ("prompt", "prompt_ids", "text", "ids"):
        if key in request:
            return _as_ids(request[key])
    raise AssertionError(request)


def _next(request: dict) -> int:
    if "next_id" in request:
        return request["next_id"]
    (only,) = request["next"].encode("utf-8")
    return only


def _pairs(tokens: list[dict]) -> list[tuple]:
    return [(t["id"], t["count"]) for t in tokens]


def test_byte_mode_golden_answers_match_brute_force():
    """Every successful reply of expected.jsonl, recomputed from the corpus without an index."""
    documents = _corpus()
    corpus = [list(d["text"].encode("utf-8")) for d in documents]
    requests = []
    for line in QUERIES.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                requests.append(json.loads(line))
            except ValueError:
                requests.append(None)
    replies = [json.loads(line) for line in (GOLDEN / "expected.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(requests) == len(replies)
    checked = 0
    for request, reply in zip(requests, replies):
        if "error" in reply:
            assert reply["error"]["type"] == "QueryError"
            continue
        op = request["op"]
        if op == "document":
            assert reply["text"] == documents[request["document"]]["text"]
            checked += 1
            continue
        query = _prompt(request) if op not in ("search", "cooccurrence", "count_batch") else []
        top_k = request.get("top_k")
        if op == "count":
            assert reply["count"] == reference.count(corpus, query), request
        elif op == "count_batch":
            assert reply["counts"] == [reference.count(corpus, _as_ids(q)) for q in request["queries"]], request
        elif op == "probability":
            prompt_count, count = reference.probability(corpus, query, _next(request))
            assert (reply["prompt_count"], reply["count"]) == (prompt_count, count), request
            assert reply["probability"] == (count / prompt_count if prompt_count else None)
        elif op == "next_tokens":
            expected = reference.next_tokens(corpus, query)
            assert reply["prompt_count"] == reference.count(corpus, query)
            assert _pairs(reply["tokens"]) == (expected if top_k is None else expected[:top_k]), request
        elif op == "infgram_probability":
            length, prompt_count, count = reference.infgram_probability(corpus, query, _next(request))
            assert (reply["suffix_length"], reply["prompt_count"], reply["count"]) == (length, prompt_count, count)
        elif op == "infgram_next_tokens":
            length, expected = reference.infgram_next_tokens(corpus, query)
            assert reply["suffix_length"] == length
            assert _pairs(reply["tokens"]) == (expected if top_k is None else expected[:top_k]), request
        elif op == "documents":
            matching = reference.documents(corpus, query)
            assert reply["num_documents"] == len(matching)
            limit, offset = request.get("limit", 10), request.get("offset", 0)
            assert len(reply["documents"]) == len(matching[offset : offset + limit])
            if "seed" not in request:
                assert [(d["index"], d["start"]) for d in reply["documents"]] == matching[offset : offset + limit]
            elif query:  # the seeded draw of occurrences (the golden index is one shard), the drawn one shown
                drawn = reference.seeded_documents([corpus], [query], request["seed"], 255)
                assert [(d["index"], d["start"]) for d in reply["documents"]] == \
                    [(number, start) for number, start, _ in drawn[offset : offset + limit]]
            for document in reply["documents"]:
                assert (document["index"], document["start"]) in (matching if "seed" not in request or not query
                                                                  else reference.occurrences(corpus, query))
                source = documents[document["index"]]
                assert document["metadata"] == {k: v for k, v in source.items() if k != "text"}
                whole = corpus[document["index"]]
                assert document["num_tokens"] == len(whole)
                window = bytes(whole[document["window_start"] :]).decode("utf-8")
                assert window.startswith(document["text"])
                if "context" not in request:
                    assert document["text"] == source["text"]
        elif op == "search":
            cnf = [[_as_ids(p["ids"] if isinstance(p, dict) else p) for p in clause] for clause in request["cnf"]]
            matching, sites = reference.search(corpus, cnf, request.get("within"))
            assert (reply["num_documents"], reply["sites"]) == (len(matching), len(sites)), request
            limit, offset = request.get("limit", 10), request.get("offset", 0)
            assert len(reply["documents"]) == len(matching[offset : offset + limit])
            for document in reply["documents"]:
                assert document["index"] in matching and document["spans"]
                if "context" not in request:
                    merged: list[list[int]] = []  # overlapping sites are marked as one span
                    for number, start, end in sites:
                        if number == document["index"]:
                            if merged and start <= merged[-1][1]:
                                merged[-1][1] = max(merged[-1][1], end)
                            else:
                                merged.append([start, end])
                    assert document["spans"] == merged  # ASCII text: characters are bytes
        elif op == "attribute":
            text = request["text"]
            assert reply["text"] == text and reply["spans"]
            for span in reply["spans"]:
                ids = _as_ids(span["text"])
                assert text[span["character_start"] : span["character_end"]] == span["text"]
                assert len(ids) >= request["min_length"] and span["count"] == reference.count(corpus, ids) > 0
                assert span["num_documents"] == len(reference.documents(corpus, ids))
        elif op == "trace":  # each step against its brute-force definition (_reference.trace_*)
            texts = [d["text"] for d in documents]
            text = request["text"]
            candidates = reference.trace_word_candidates(texts, text, 1)
            words = [found.span() for found in re.finditer(r"\w+", text)]
            counts = [[reference.count(corpus, _as_ids(text[c:d])) for c, d in words if a <= c and d <= b]
                      for a, b in candidates]
            kept = [candidates[n] for n in reference.trace_rarest(counts, len(reference.occurrences(corpus, [])),
                                                                   len(words))]
            assert (reply["num_candidates"], reply["num_kept"]) == (len(candidates), len(kept))
            assert [(s["character_start"], s["character_end"]) for s in reply["spans"]] == reference.trace_merged(kept)
            numbers = sorted({d["index"] for s in reply["spans"] for d in s["documents"]})
            scores = reference.trace_bm25(request["prompt"] + "\n" + text, [texts[n] for n in numbers])
            shown = {d["index"]: d["score"] for s in reply["spans"] for d in s["documents"]}
            assert shown.keys() == set(numbers) and scores
            assert all(abs(shown[n] - score) < 1e-9 for n, score in zip(numbers, scores))
        elif op == "longest_matches":
            expected = reference.longest_matches(corpus, query)
            assert list(zip(reply["lengths"], reply["counts"])) == expected
        elif op == "infgram_probabilities":
            expected = reference.infgram_probabilities(corpus, query)
            assert list(zip(reply["suffix_lengths"], reply["prompt_counts"], reply["counts"])) == expected
        elif op == "cooccurrence":
            phrases = [_as_ids(p["ids"] if isinstance(p, dict) else p) for p in request["phrases"]]
            sets = reference.document_sets(corpus, phrases)
            assert reply["counts"] == [reference.count(corpus, p) for p in phrases]
            if request.get("document_counts"):
                assert reply["document_counts"] == [len(s) for s in sets]
            assert reply["pair_document_counts"] == [len(sets[a] & sets[b]) for a, b in reply["pairs"]]
        elif op == "contamination":
            windows, found = reference.contamination([d["text"] for d in documents], request["text"])
            assert (reply["windows"], reply["found"]) == (windows, found), request
            assert reply["fraction"] == found / windows
        elif op == "draft":
            context = list(query)
            for token in reply["tokens"]:  # each step: the most frequent next token, ties to the smaller id
                length, distribution = reference.infgram_next_tokens(corpus, context)
                best = sorted(distribution, key=lambda entry: (-entry[1], entry[0] is None, entry[0] or 0))[0]
                assert (token["id"], token["count"], token["suffix_length"]) == (best[0], best[1], length), request
                context.append(token["id"])
            assert len(reply["tokens"]) <= request["max_tokens"]
        elif op in ("novelty", "creativity"):
            words = [(m.start(), m.end()) for m in re.finditer(rb"\S+", bytes(query))]
            if op == "novelty":
                assert reply["novelty"] == reference.novelty(corpus, query, request["max_n"], words)
            else:
                expected = [reference.uniqueness(corpus, query, length, words) for length in request["min_length"]]
                assert reply["uniqueness"] == expected and reply["creativity_index"] == sum(expected)
        else:
            raise AssertionError(op)
        checked += 1
    assert checked >= 33
