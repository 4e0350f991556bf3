"""bench/gpu.sh without a GPU, and the arithmetic of its helper bench/gpu_report.py (the GPU
runs themselves need a GPU: bench/gpu.sh --cpu-smoke runs the whole pipeline on CPU)."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest
from uer_testing import REPO


def _report():
    spec = importlib.util.spec_from_file_location("gpu_report", REPO / "bench" / "gpu_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _line(step, tokens, rows, t, tps, masked=15.0):
    return {"step": step, "tokens_seen": tokens, "sequences_seen": rows, "time": t,
            "tokens_per_s": tps, "mlm/count": masked}


def test_steady_skips_the_first_window():
    r = _report()
    lines = [_line(10, 1000, 10, 100.0, 50.0), _line(20, 3000, 30, 101.0, 2000.0),
             _line(30, 5000, 50, 102.0, 2000.0)]
    s = r.steady(lines)
    assert s["tokens_per_s"] == pytest.approx(4000 / 2.0)
    assert s["rows_per_s"] == pytest.approx(20.0)
    assert s["masked"] == 30.0 and s["steps"] == 20
    assert r.steady(lines[:1]) is None


def test_bert_base_flops_per_token():
    r = _report()
    c = r.model_counts("bert-base", 21128)
    assert c["encoder_matrices"] == 12 * (3 * 768 * 768 + 768 * 768 + 2 * 768 * 3072)
    assert c["mlm_matrices"] == 768 * 768 + 21128 * 768
    tokens, rows = 128_000, 1000  # rows of 128 real tokens, 15% masked
    per_token = r.pretrain_flops(c, tokens, rows, 0.15 * tokens) / tokens
    expected = (6 * 84_934_656 + 12 * 12 * 768 * 128 + 6 * 0.15 * (768 * 768 + 21128 * 768)
                + 6 * (768 * 768 + 2 * 768) / 128)
    assert per_token == pytest.approx(expected)
    assert 530e6 < per_token < 545e6


def test_peak_from_the_gpu_name(monkeypatch):
    r = _report()
    monkeypatch.delenv("GPU_PEAK_TFLOPS", raising=False)
    assert r.peak_tflops("NVIDIA H100 80GB HBM3")[0] == 989
    assert r.peak_tflops("NVIDIA H200")[0] == 989
    assert r.peak_tflops("NVIDIA A100-SXM4-80GB")[0] == 312
    assert r.peak_tflops("Tesla T4")[0] is None
    monkeypatch.setenv("GPU_PEAK_TFLOPS", "500")
    assert r.peak_tflops("NVIDIA H100 80GB HBM3") == (500.0, "GPU_PEAK_TFLOPS")


def test_pretrain_record_from_metrics(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    lines = [_line(10, 1000, 10, 100.0, 50.0), _line(20, 3000, 30, 101.0, 2000.0)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("".join(f"t{i}\n" for i in range(100)))
    parts = tmp_path / "parts.jsonl"
    env = {**os.environ, "GPU_PEAK_TFLOPS": "1", "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, str(REPO / "bench" / "gpu_report.py"), "pretrain", "--part", "a",
                    "--id", "a128", "--title", "t", "--run", str(run), "--model", "bert-tiny",
                    "--vocab", str(vocab), "--parts", str(parts)], check=True, env=env,
                   capture_output=True)
    rec = json.loads(parts.read_text())
    assert rec["steady"]["tokens_per_s"] == pytest.approx(2000.0)
    assert rec["mfu"] == pytest.approx(rec["achieved_tflops"] / 1.0)
    assert rec["counts"]["vocab"] == 100
    subprocess.run([sys.executable, str(REPO / "bench" / "gpu_report.py"), "skip", "--part", "c",
                    "--title", "ddp", "--reason", "one GPU", "--parts", str(parts)], check=True,
                   env=env, capture_output=True)
    table = tmp_path / "gpu.txt"
    subprocess.run([sys.executable, str(REPO / "bench" / "gpu_report.py"), "table", "--parts",
                    str(parts), "--out", str(table), "--command", "test"], check=True, env=env,
                   capture_output=True)
    text = table.read_text()
    assert "2,000 tok/s" in text and "MFU" in text and "one GPU" in text


def test_no_gpu_writes_one_line_but_keeps_gpu_results(tmp_path):
    """A fake nvidia-smi that fails stands for a machine without a GPU."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "nvidia-smi").write_text("#!/bin/sh\nexit 9\n")
    (fake / "nvidia-smi").chmod(0o755)
    out = tmp_path / "gpu.txt"
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "PYTHON": sys.executable,
           "GPU_BENCH_RESULTS": str(out), "GPU_BENCH_WORK": str(tmp_path / "work")}
    run = subprocess.run(["bash", str(REPO / "bench" / "gpu.sh")], env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "no GPU found" in run.stdout
    assert out.read_text().startswith("bench/gpu.sh: no GPU found")
    assert len(out.read_text().splitlines()) == 1
    out.write_text("bench/gpu.sh — GPU run\nreal numbers\n")
    run = subprocess.run(["bash", str(REPO / "bench" / "gpu.sh")], env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "left as it is" in run.stdout
    assert out.read_text() == "bench/gpu.sh — GPU run\nreal numbers\n"
