"""Shared fixtures: the shared data folder beside the checkout, and tiny index builders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("INFGRAM_SHARED", ROOT.parent / "shared"))

settings.register_profile(
    "default", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def shared_tokenizer(name: str) -> Path:
    path = SHARED / "tokenizers" / f"{name}.tokenizer.json"
    if not path.exists():
        pytest.skip(f"{path} is not there: these tests need the shared/ folder beside the checkout")
    return path
