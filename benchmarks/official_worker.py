"""Drives the official ``infini-gram`` engine for ``vs_official.py``, inside its own virtualenv.

Runs with the official package's Python (it needs nothing of infgram) and speaks JSON
lines: one request per line on stdin, one answer per line on stdout. Every call is timed
here, in this process, so that neither the pipe nor JSON is part of any figure.

Requests:
    {"op": "open", "index_dir": ..., "token_dtype": "u8"|"u16"|"u32", "eos_token_id": ..., "vocab_size": ...,
     "warm": true (default: read every file first, no prefetching) or false (leave the page cache as it
     is, the engine's default prefetch depths)}
    {"op": "time", "method": "count"|"prob"|"ntd"|"infgram_prob"|"search_docs", "calls": [[arg, ...], ...]}
    {"op": "quit"}
Answers: {"ok": true, ...} or {"ok": false, "error": "..."}; "time" answers carry
"times_ns" (one per call) and "results" (plain JSON, one per call).
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

FORBIDDEN_PATH_WORDS = ("table", "offset", "tokenized", "metadata", "metaoff", "unigram")
"""The engine sorts the files of an index directory by substrings of their whole path, so any
of these words in a parent folder's name would mix its files up."""


def _plain(method: str, result):
    if isinstance(result, dict) and "error" in result:
        raise RuntimeError(f"the official engine answered an error: {result['error']}")
    if method == "count":
        return result["count"]
    if method == "prob":
        return [result["prompt_cnt"], result["cont_cnt"]]
    if method == "ntd":
        return {"prompt_cnt": result["prompt_cnt"], "approx": bool(result["approx"]),
                "counts": [[int(k), v["cont_cnt"]] for k, v in result["result_by_token_id"].items()]}
    if method == "infgram_prob":
        return [result["suffix_len"], result["prompt_cnt"], result["cont_cnt"]]
    if method == "search_docs":
        return {"cnt": result["cnt"],
                "documents": [[d["doc_ix"], d["doc_len"], d["needle_offset"], list(d["token_ids"])]
                              for d in result["documents"]]}
    raise ValueError(f"unknown method {method!r}")


def main() -> None:
    # The engine and its indexer print progress; keep this process's stdout for answers only.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    engine = None
    for line in sys.stdin:
        request = json.loads(line)
        try:
            if request["op"] == "quit":
                answers.write(json.dumps({"ok": True}) + "\n")
                return
            if request["op"] == "open":
                from infini_gram.engine import InfiniGramEngine

                index_dir = os.path.abspath(request["index_dir"])
                bad = [word for word in FORBIDDEN_PATH_WORDS if word in index_dir]
                if bad:
                    raise ValueError(f"the index path {index_dir} holds {bad}, which the official engine "
                                     "would take for index files; choose another folder")
                for name in sorted(os.listdir(index_dir)) if request.get("warm", True) else []:
                    with open(os.path.join(index_dir, name), "rb") as handle:  # warm: the page cache holds it
                        while handle.read(1 << 24):
                            pass
                # Best case on a warm index: no prefetching (it only helps a cold one); on a cold
                # one ("warm": false) its default prefetch depths.
                depths = {} if not request.get("warm", True) else \
                    {"ds_prefetch_depth": 0, "sa_prefetch_depth": 0, "od_prefetch_depth": 0}
                engine = InfiniGramEngine(index_dir=index_dir, eos_token_id=request["eos_token_id"],
                                          vocab_size=request["vocab_size"], token_dtype=request["token_dtype"],
                                          **depths)
                answers.write(json.dumps({"ok": True, "num_documents": engine.get_total_doc_cnt()}) + "\n")
                continue
            if request["op"] == "time":
                method_name = request["method"]
                method = getattr(engine, method_name)
                calls = request["calls"]
                kwargs = request.get("kwargs", {})
                times, raw = [], []
                for arguments in calls:
                    start = time.perf_counter_ns()
                    result = method(*arguments, **kwargs)
                    times.append(time.perf_counter_ns() - start)
                    raw.append(result)
                results = [_plain(method_name, r) for r in raw]
                answers.write(json.dumps({"ok": True, "times_ns": times, "results": results}) + "\n")
                continue
            raise ValueError(f"unknown op {request['op']!r}")
        except Exception as error:  # reported to the harness, which fails the run loudly
            answers.write(json.dumps({"ok": False, "error": f"{error!r}\n{traceback.format_exc()}"}) + "\n")


if __name__ == "__main__":
    main()
