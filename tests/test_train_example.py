"""The README's training example runs and learns XOR with generated gradients."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("style", ["vectorized", "unrolled"])
def test_xor_is_learned(style: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "train_xor.py"), "--style", style],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        env={**os.environ, "SYMGRAD_CACHE_DIR": str(tmp_path)},  # symgrad.load's cache
    )
    assert len(list(tmp_path.iterdir())) == 1  # the module, made once into the cache
    losses = [float(v) for v in re.findall(r"loss ([0-9.]+)", result.stdout)]
    assert len(losses) >= 3 and losses[-1] < losses[0] / 10
    accuracy = float(re.search(r"accuracy on \d+ fresh points: ([0-9.]+)%", result.stdout)[1])
    assert accuracy >= 95.0
