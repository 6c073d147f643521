"""The documentation site: it builds offline with warnings as errors (``mkdocs build --strict``),
its generated references hold every command and route, and the how-to pages' commands run word
for word (each page's ```bash blocks, in order, as one script, with ``infgram`` being this
checkout's command line)."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import infgram
from conftest import ROOT

DOCS = ROOT / "docs"
HOW_TOS = ["index-a-code-folder", "take-down-documents", "check-a-benchmark"]
MISSING = [name for name in ("mkdocs", "mkdocstrings", "mkdocstrings_handlers.python", "material")
           if importlib.util.find_spec(name.split(".")[0]) is None
           or (name == "mkdocstrings_handlers.python" and importlib.util.find_spec(name) is None)]


def _environment() -> dict[str, str]:
    source = str(Path(infgram.__file__).parents[1])
    return {**os.environ, "PYTHONIOENCODING": "utf-8", "INFGRAM_PYTHON": sys.executable, "NO_MKDOCS_2_WARNING": "1",
            "PYTHONPATH": os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH")) if p)}


@pytest.mark.skipif(bool(MISSING), reason=f"the docs extra is not installed (missing {', '.join(MISSING)}): "
                                          "python3 -m pip install -e '.[docs]'")
def test_the_site_builds_offline_with_warnings_as_errors(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                             str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, env={**_environment(), "no_proxy": "*", "http_proxy": "http://0.0.0.0:9",
                                           "https_proxy": "http://0.0.0.0:9"},
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    site = tmp_path / "site"
    cli = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    from infgram.cli import build_parser

    commands = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    for name in (choice.dest for choice in commands._choices_actions):
        assert f"infgram {name}" in cli, name
    http = (site / "reference" / "http" / "index.html").read_text(encoding="utf-8")
    assert "POST /v1/count" in http and "GET /v1/health" in http
    python = (site / "reference" / "python" / "index.html").read_text(encoding="utf-8")
    assert "from_texts" in python and "contamination_report" in python
    for page in HOW_TOS:
        assert (site / "how-to" / page / "index.html").exists()
    # Offline: the pages load nothing from elsewhere (no web fonts, no CDN scripts; links are fine).
    for page in site.rglob("*.html"):
        assert not re.search(r'<(script|link|img)\b[^>]*(src|href)="(https?:)?//', page.read_text(encoding="utf-8")), page


def _bash_blocks(page: str) -> list[str]:
    text = (DOCS / "how-to" / f"{page}.md").read_text(encoding="utf-8")
    return re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M)


@pytest.mark.parametrize("page", HOW_TOS)
def test_how_to_commands_run_word_for_word(page, tmp_path):
    blocks = _bash_blocks(page)
    assert blocks, f"{page} has no ```bash block"
    work = tmp_path / "work"
    work.mkdir()
    if page == "index-a-code-folder":  # "from the root of a clone of infgram": its sources
        shutil.copytree(ROOT / "src", work / "src", ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    prelude = 'set -euo pipefail; infgram() { "$INFGRAM_PYTHON" -m infgram.cli "$@"; }\n'
    outputs = []
    for block in blocks:
        result = subprocess.run(["bash", "-c", prelude + block], cwd=work, env=_environment(), capture_output=True,
                                text=True, encoding="utf-8", timeout=600)
        assert result.returncode == 0, f"{page}:\n{block}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        outputs.append(result.stdout)
    if page == "index-a-code-folder":
        index = infgram.Index.open(work / "code-idx")
        assert index.count("def ") > 100 and index.document(0).metadata["path"].startswith("src")
    elif page == "take-down-documents":
        counts = [line for output in outputs for line in output.splitlines() if line.strip().isdigit()]
        assert counts == ["4", "2"], outputs  # as the page says
        info = infgram.Index.open(work / "idx").info()
        assert info["num_removed_documents"] == 1 and info["garbage_bytes"] == 0
    else:
        report = work / "report"
        assert {p.name for p in report.iterdir()} == {"entries.jsonl", "summary.json", "report.html"}
        import json

        entries = [json.loads(line) for line in (report / "entries.jsonl").read_text(encoding="utf-8").splitlines()]
        assert [e["label"] for e in entries] == ["dirty", "dirty", "clean"]
        assert entries[0]["span_words"] > entries[1]["span_words"] == 1
        assert "by subject" in outputs[-1]
