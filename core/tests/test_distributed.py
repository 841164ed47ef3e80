"""Data-parallel training on two CPU processes (gloo) equals one process with the same global batch."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from robovlms.datasets.recording import generate

pytest.importorskip("robovlms_paligemma")
pytest.importorskip("robovlms_action_heads")
SCRIPT = Path(__file__).with_name("distributed_train.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(config: Path, output: Path, processes: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if processes == 1:
        command = [sys.executable, str(SCRIPT), str(config), str(output)]
    else:
        command = [
            sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}",
            "--master_addr=127.0.0.1", f"--master_port={free_port()}", str(SCRIPT), str(config), str(output),
        ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def write_config(tmp_path: Path, episodes: int, **training) -> Path:
    """A tiny one-frame, one-action config over a fresh dataset, written where the scripts can read it."""
    generate(tmp_path / "data", episodes, seed=0, image_size=32)
    config = {
        "model": {"backbone": "paligemma", "action_head": "mlp", "history_mode": "one_step",
                  "history_length": 1, "action_chunk_size": 1},
        "training": {"freeze_vision_tower": False, **training},
        "action_head": {"hidden_size": 32, "num_layers": 1, "dropout": 0.0},
        "vlm": {"preset": "tiny"},
        "data": {"path": str(tmp_path / "data"), "validation_split": 0.0},
    }  # fmt: skip
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


def test_two_processes_match_one(tmp_path):
    # windows of one frame and one action: no padding, so each rank's mean loss is the global mean's half
    path = write_config(tmp_path, episodes=6, batch_size=8, learning_rate=1e-3, max_steps=4)
    two = run(path, tmp_path / "two", 2)
    assert two.returncode == 0, two.stderr[-3000:]
    one = run(path, tmp_path / "one", 1)
    assert one.returncode == 0, one.stderr[-3000:]
    rank0, rank1 = load_file(tmp_path / "two-rank0.safetensors"), load_file(tmp_path / "two-rank1.safetensors")
    single = load_file(tmp_path / "one-rank0.safetensors")
    start = json.loads((tmp_path / "two" / "metrics.jsonl").read_text().splitlines()[0])
    assert start["effective_batch_size"] == 8 and start["processes"] == 2 and start["micro_batch"] == 4
    for name in rank0:
        torch.testing.assert_close(rank0[name], rank1[name], rtol=0, atol=0, msg=f"ranks differ at {name}")
        torch.testing.assert_close(rank0[name], single[name], rtol=1e-4, atol=1e-5, msg=f"1 vs 2 processes at {name}")
    assert (tmp_path / "two" / "vla.safetensors").exists() and not (tmp_path / "two-rank1").exists()


def test_fsdp_on_two_processes_saves_unsharded_weights(tmp_path):
    from robovlms import VLA

    path = write_config(tmp_path, episodes=4, batch_size=4, max_steps=2, strategy="fsdp")
    result = run(path, tmp_path / "fsdp", 2)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = VLA.from_pretrained(tmp_path / "fsdp")  # an ordinary, unsharded model
    (checkpoint,) = (tmp_path / "fsdp" / "checkpoints").iterdir()
    saved = load_file(str(checkpoint / "model.safetensors"))
    torch.testing.assert_close(saved["action_tokens"], loaded.action_tokens.detach())
    assert saved["head.trunk.0.weight"].shape == loaded.head.trunk[0].weight.shape
