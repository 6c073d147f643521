"""Corpus text cannot drive the terminal, and an index names only files inside itself."""

from __future__ import annotations

import json

import infgram
from conftest import run_cli

HOSTILE = "title \x1b]0;pwned\x07 clear \x1b[2J c1 \x9b31m bell \x07 end"


def test_control_characters_in_documents_are_shown_escaped(tmp_path):
    infgram.build_from_documents([{"text": HOSTILE, "metadata": {"note": "\x1b[31mred\x9b"}}], tmp_path / "index",
                                 progress=False)
    for arguments in (["documents", tmp_path / "index", "clear"], ["search", tmp_path / "index", "clear"],
                      ["attribute", tmp_path / "index", HOSTILE, "--min-length", "5"],
                      ["documents", tmp_path / "index", "clear", "--json"]):
        result = run_cli(*arguments)
        assert result.returncode == 0, result.stderr
        for character in ("\x1b", "\x9b", "\x07"):
            assert character not in result.stdout, (arguments, result.stdout)
    document = json.loads(run_cli("documents", tmp_path / "index", "clear", "--json").stdout)["documents"][0]
    assert document["text"] == HOSTILE  # JSON escapes keep the text itself


def test_a_path_with_a_newline_keeps_the_error_on_one_line(tmp_path):
    result = run_cli("count", tmp_path / "no\nindex\x1b[2J", "x")
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1 and "\x1b" not in result.stderr


def test_manifest_paths_outside_the_index_are_refused(tmp_path):
    infgram.build_from_documents(["secret"], tmp_path / "index", progress=False)
    manifest_path = tmp_path / "index" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    (tmp_path / "outside.bin").write_bytes(b"INFGRAM\0" + b"private data" * 10)
    for path in ("/etc/passwd", "../outside.bin", "shard-00000/../../outside.bin"):
        manifest["shards"][0]["files"]["tokens"]["path"] = path
        manifest_path.write_text(json.dumps(manifest))
        result = run_cli("count", tmp_path / "index", "x")
        assert result.returncode == 1 and "outside the index directory" in result.stderr
        assert "root:" not in result.stderr and "private" not in result.stderr
