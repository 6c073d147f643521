"""Fuzz `infgram serve`: Schemathesis from /openapi.json, then our own malformed requests; never a 500.

    python benchmarks/serve_fuzz.py [--requests 100000] [--schemathesis-examples 300] [--out result.json]

It serves the golden corpus (tests/golden/corpus.jsonl) and its FM-index from a subprocess on
127.0.0.1, runs the Schemathesis command line against /openapi.json (checks: not a server
error, response schema conformance), then sends ``--requests`` malformed requests from 8
keep-alive clients: random bytes, wrong types, huge numbers, deep nesting, invalid UTF-8,
unknown operations and indexes, garbage batch lines, and a few 100 MB bodies. It counts
replies by status and checks that every error body is ``{"error": {"type": str, "message": str}}``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import socket
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

from serve_load import free_port, start_server, write_report

ROOT = Path(__file__).resolve().parents[1]
OPS = ["count", "probability", "next_tokens", "infgram_probability", "infgram_next_tokens", "documents", "search",
       "attribute", "longest_matches", "infgram_probabilities", "cooccurrence", "contamination", "batch", "fly", ""]
FIELDS = ["text", "ids", "prompt", "prompt_ids", "next", "next_id", "top_k", "limit", "offset", "seed", "context",
          "max_work", "cnf", "within", "min_length", "max_count", "examples", "phrases", "pairs", "document_counts", "op"]


def odd_value(rng: random.Random, depth: int = 0):
    choice = rng.randrange(14)
    if choice == 0:
        return rng.choice([0, -1, 1, 2**31, 2**63, -2**63, 10**30, 255, 256])
    if choice == 1:
        return rng.choice([0.5, -0.0, 1e308, float("nan")])
    if choice == 2:
        return rng.choice([True, False, None])
    if choice == 3:
        return "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(0, 40)))
    if choice == 4:
        return rng.choice(["", "the", "a OR", '"unclosed', "(a OR b) AND", "\ud800", "AND", "a AND (b OR c)"])
    if choice == 5:
        return [rng.randrange(-5, 70000) for _ in range(rng.randrange(0, 20))]
    if choice == 6 and depth < 3:
        return [odd_value(rng, depth + 1) for _ in range(rng.randrange(0, 5))]
    if choice == 7 and depth < 3:
        return {rng.choice(FIELDS): odd_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))}
    if choice == 8:
        return "x" * rng.choice([1000, 100_000])
    if choice == 9:
        return [[rng.choice(["a", "the", "", {"ids": [1, 2]}, 5])] for _ in range(rng.randrange(0, 4))]
    return rng.choice(["cat", [97, 98], {"ids": []}, [[0, 1]], -7])


def malformed(rng: random.Random) -> tuple[str, bytes]:
    """One (path, body) of the malformed kinds listed in the module docstring."""
    op = rng.choice(OPS)
    path = f"/v1/{op}" + (rng.choice(["", "", "?index=nowhere", "?index=fm", "?index=" + "z" * 300]))
    kind = rng.randrange(9)
    if kind == 0:
        return path, bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200)))
    if kind == 1:
        return path, ("[" * rng.randrange(1000, 200_000)).encode()
    if kind == 2:
        return path, ('{"text": "a", "limit": ' + "9" * rng.randrange(10, 20_000) + "}").encode()
    if kind == 3:
        return path, b'{"text": "\xff\xfe caf\xc3"}'
    if kind == 4:
        return path, ("\n".join(json.dumps({"op": rng.choice(OPS), **{rng.choice(FIELDS): odd_value(rng)}}, allow_nan=True)
                                if rng.random() < 0.7 else "garbage {" for _ in range(rng.randrange(1, 20)))).encode()
    body = {rng.choice(FIELDS): odd_value(rng) for _ in range(rng.randrange(0, 6))}
    text = json.dumps(body if kind != 5 else [body], allow_nan=True, ensure_ascii=rng.random() < 0.5)
    return path, text.encode("utf-8", "surrogatepass")


def well_formed_error(content: bytes) -> bool:
    try:
        body = json.loads(content)
        return isinstance(body["error"]["type"], str) and isinstance(body["error"]["message"], str)
    except (ValueError, KeyError, TypeError):
        return False


def huge_body(port: int, size: int = 100 * 1024 * 1024) -> int:
    """Send the head of a ``size``-byte body, then read the reply: its status."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as connection:
        connection.sendall(f"POST /v1/count HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode())
        try:
            for _ in range(100):
                connection.sendall(b"x" * (1 << 20))
        except OSError:
            pass  # the server answered and closed: read its reply
        head = connection.recv(65536).decode("latin-1")
    return int(head.split(" ", 2)[1])


def fuzz(port: int, total: int, clients: int, seed: int) -> dict:
    statuses: Counter = Counter()
    malformed_bodies: list[str] = []
    lock = threading.Lock()

    def client(number: int, count: int) -> None:
        rng = random.Random(seed * 1000 + number)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        mine: Counter = Counter()
        for _ in range(count):
            path, body = malformed(rng)
            try:
                connection.request("POST", path, body=body)
                response = connection.getresponse()
                content = response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                mine["connection error"] += 1
                continue
            mine[status] += 1
            if status != 200 and not path.startswith("/v1/batch") and not well_formed_error(content):
                with lock:
                    malformed_bodies.append(f"{status} {path} {content[:200]!r}")
        with lock:
            statuses.update(mine)

    threads = [threading.Thread(target=client, args=(n, total // clients)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    huge = [huge_body(port) for _ in range(3)]
    return {"requests": sum(v for k, v in statuses.items() if isinstance(k, int)) + len(huge),
            "by_status": {str(k): v for k, v in sorted(statuses.items(), key=str)},
            "server_errors_500": statuses.get(500, 0), "malformed_error_bodies": malformed_bodies[:20],
            "num_malformed_error_bodies": len(malformed_bodies), "hundred_megabyte_bodies": huge}


def schemathesis_run(port: int, examples: int) -> dict:
    command = ["schemathesis", "run", f"http://127.0.0.1:{port}/openapi.json", "--checks",
               "not_a_server_error,response_schema_conformance", "--max-examples", str(examples), "--no-color"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=3600, cwd=tempfile.gettempdir())
    tail = [line for line in result.stdout.splitlines() if line.strip()][-12:]
    return {"returncode": result.returncode, "summary": tail}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--schemathesis-examples", type=int, default=300)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    import infgram

    folder = Path(tempfile.mkdtemp(prefix="infgram-fuzz-"))
    documents = [json.loads(line) for line in (ROOT / "tests/golden/corpus.jsonl").read_text().splitlines() if line]
    infgram.build_from_documents(documents, folder / "golden", progress=False)
    infgram.build_from_documents(documents, folder / "fm", kind="fm", progress=False)
    port = free_port()
    server = start_server([str(folder / "golden"), f"fm={folder / 'fm'}"], port, 1, "--max-work", "1000000")
    try:
        report = {"schemathesis": schemathesis_run(port, args.schemathesis_examples),
                  "malformed": fuzz(port, args.requests, args.clients, seed=1)}
    finally:
        server.terminate()
        server.wait(timeout=60)
    write_report(report, args.out)


if __name__ == "__main__":
    main()
