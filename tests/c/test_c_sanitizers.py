"""The C algorithm files (src/infgram/c/) under AddressSanitizer and UBSan: the programs in
tests/c/ include them directly, check them on small arrays and on damaged inputs, and must
exit 0. An out-of-bounds read or undefined behaviour stops a program with a non-zero exit."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from tqdm.auto import tqdm

from infgram.build import fm_writer

C_TESTS = Path(__file__).resolve().parents[1] / "c"
FLAGS = ["-std=c99", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (`cc`) on PATH to build the C unit tests")


def _compile_and_run(source: str, tmp_path: Path, *args: str) -> str:
    program = tmp_path / Path(source).stem
    built = subprocess.run(["cc", *FLAGS, "-o", str(program), str(C_TESTS / source)], capture_output=True, text=True)
    if built.returncode != 0 and "sanitize" in built.stderr:
        pytest.skip(f"the C compiler cannot build with sanitizers: {built.stderr.strip()[:200]}")
    assert built.returncode == 0, built.stderr
    ran = subprocess.run([str(program), *args], capture_output=True, text=True, timeout=120,
                         env={"ASAN_OPTIONS": "detect_leaks=1", "UBSAN_OPTIONS": "print_stacktrace=1"})
    assert ran.returncode == 0, f"{source} failed ({ran.returncode}):\n{ran.stdout}\n{ran.stderr}"
    return ran.stdout


def test_suffix_array_searches_under_sanitizers(tmp_path):
    assert "sa_search: ok" in _compile_and_run("test_sa_search.c", tmp_path)


def test_official_index_searches_under_sanitizers(tmp_path):
    assert "official_search: ok" in _compile_and_run("test_official_search.c", tmp_path)


def test_fm_index_under_sanitizers(tmp_path):
    """The FM files come from the real build (fm_writer), so the test reads what the build writes."""
    rng = np.random.default_rng(3)
    words = [b"the", b"cat", b"sat", b"on", b"mat", b"every", b"evening", b"seven", b"eels"]
    documents = [b" ".join(words[int(i)] for i in rng.integers(0, len(words), int(rng.integers(3, 40))))
                 for _ in range(150)]
    text = b"\xff".join(documents) + b"\xff"
    array = np.frombuffer(text, dtype=np.uint8).copy()
    bar = tqdm(disable=True)
    bwt, primary_row, rows, values, isa = fm_writer._bwt_and_samples(array, 8, 64, bar)
    wavelet = b"".join(bytes(part) for part in fm_writer._wavelet_blob(bwt, primary_row, bar))
    samples = b"".join(bytes(part) for part in fm_writer._samples_blob(len(array), 8, 64, rows, values, isa))
    paths = []
    for name, data in (("text", text), ("wavelet", wavelet), ("samples", samples)):
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    output = _compile_and_run("test_fm_index.c", tmp_path, *paths)
    assert "fm_index: ok" in output
