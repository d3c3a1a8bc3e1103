"""A model trained for fewer positions than ``contextSize`` must not crash the server: llama.cpp
aborts the whole process when a GPTBigCode model (learned position table) sees a position at or
past ``n_positions``. A converted 16-position model, asked for the default context and 64 new
tokens after a 99-token prompt, must answer (clipped) and exit 0."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lsp_server.loader import context_window
from tests.quantization.deps import need
from tests.quantization.test_convert_errors import complete


@pytest.mark.parametrize(
    ("requested", "trained", "expected"),
    [(4096, 16, 16), (4096, 32768, 4096), (4096, None, 4096), (2048, 2048, 2048), (512, 0, 512)],
)
def test_context_window_never_passes_the_trained_context(requested, trained, expected):
    assert context_window(requested, trained) == expected


def test_a_short_context_model_answers_instead_of_aborting(tmp_path):
    need("gguf")
    from quantization.convert import convert

    model = convert(complete(tmp_path / "ck"), tmp_path / "m.gguf", "f32").path
    source = tmp_path / "a.txt"
    source.write_text("abcdefgh" * 12, encoding="utf-8")  # ~99 tokens in its 16-token vocab
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lsp_server.cli",
            "complete",
            f"{source}:1:97",
            "--model",
            str(model),
            "--set",
            "maxTokens=64",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "clipped" in done.stderr and "'generatedTokens': 8" in done.stderr
