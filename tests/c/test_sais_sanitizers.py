"""Builds tests/c/test_sais.c with src/infgram/c/sais.c under AddressSanitizer and
UndefinedBehaviorSanitizer, and again under ThreadSanitizer (the threaded scans), and runs
them, with the sorter's heap counted against the bound in sais.h (see the comment at the top
of test_sais.c)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEST_BUILD = ["-DINFGRAM_SAIS_INT32_MAX_LENGTH=100", "-DINFGRAM_SAIS_HEAP_HOOKS", "-DINFGRAM_SAIS_THREAD_HOOKS",
              "-DINFGRAM_SAIS_THREADS_MIN_LENGTH=8", "-DINFGRAM_SAIS_SCAN_CHUNK=4", "-DINFGRAM_SAIS_SCAN_RING_CHUNKS=2"]


@pytest.mark.parametrize("sanitizers, arguments", [
    (["-fsanitize=address,undefined", "-fno-sanitize-recover=all"], []),
    (["-fsanitize=thread"], ["--threaded"]),
], ids=["address,undefined", "thread"])
def test_sais_under_sanitizers(tmp_path, sanitizers, arguments):
    compiler = shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler (cc) on PATH")
    flags = ["-std=c99", "-O1", "-g", *sanitizers, "-pthread"]
    probe = tmp_path / "probe.c"
    probe.write_text("int main(void) { return 0; }\n")
    if subprocess.run([compiler, *flags, str(probe), "-o", str(tmp_path / "probe")], capture_output=True, check=False).returncode:
        pytest.skip(f"cc cannot link with {sanitizers[0]} (sanitizer runtimes missing)")
    binary = tmp_path / "test_sais"
    build = subprocess.run(
        [compiler, *flags, *TEST_BUILD, f"-I{ROOT / 'src/infgram/c'}",
         str(ROOT / "tests/c/test_sais.c"), str(ROOT / "src/infgram/c/sais.c"), "-o", str(binary)],
        capture_output=True, text=True, check=False,
    )
    assert build.returncode == 0, build.stderr
    result = subprocess.run([str(binary), *arguments], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all passed" in result.stdout
