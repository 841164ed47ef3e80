"""Training on two CPU processes (gloo): DDP equals one process, FSDP equals DDP, and FSDP resumes exactly."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
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


def run(config: Path, output: Path, processes: int, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if processes == 1:
        command = [sys.executable, str(SCRIPT), str(config), str(output), *flags]
    else:
        command = [
            sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}",
            "--master_addr=127.0.0.1", f"--master_port={free_port()}", str(SCRIPT), str(config), str(output), *flags,
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


def trained(run: Path) -> dict[str, torch.Tensor]:
    """The weights of a finished run, as one process loads its ordinary (unsharded) folder."""
    from robovlms import VLA

    return VLA.from_pretrained(run).state_dict()


def assert_same(got: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], **tolerance: float) -> None:
    assert got.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], **(tolerance or {"rtol": 0, "atol": 0}), msg=name)


def run_killed_after(config: Path, output: Path, snapshot: str) -> None:
    """Two FSDP processes under torchrun, SIGKILLed (launcher and ranks) once ``snapshot`` is complete."""
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
        f"--master_port={free_port()}", str(SCRIPT), str(config), str(output),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 300
    while not (output / "checkpoints" / snapshot).exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (output / "vla.safetensors").exists(), "the run finished before it could be killed"


@pytest.fixture(scope="module")
def fsdp(tmp_path_factory) -> dict[str, Path]:
    """An uninterrupted FSDP run of 8 steps on two processes, and its config (fp32, snapshots every 2 steps)."""
    folder = tmp_path_factory.mktemp("fsdp")
    config = write_config(folder, episodes=6, batch_size=8, learning_rate=1e-3, max_steps=8, epochs=4,
                          checkpoint_every=2, strategy="fsdp")  # fmt: skip
    result = run(config, folder / "whole", 2)
    assert result.returncode == 0, result.stderr[-3000:]
    return {"config": config, "whole": folder / "whole"}


def test_fsdp_snapshots_are_sharded_and_the_result_is_an_ordinary_folder(fsdp):
    snapshot = fsdp["whole"] / "checkpoints" / "step-00000008"
    shards = sorted(p.name for p in (snapshot / "shards").iterdir())
    assert shards == [".metadata", "__0_0.distcp", "__1_0.distcp"]  # each rank wrote its own shard
    assert not (snapshot / "model.safetensors").exists()  # no rank gathered the model to checkpoint it
    assert trained(fsdp["whole"])["head.trunk.0.weight"].shape == (32, 64)


def test_fsdp_equals_ddp_with_the_same_global_batch(fsdp, tmp_path):
    config = json.loads(fsdp["config"].read_text())
    config["training"]["strategy"] = "ddp"
    (tmp_path / "ddp.json").write_text(json.dumps(config))
    result = run(tmp_path / "ddp.json", tmp_path / "ddp", 2)
    assert result.returncode == 0, result.stderr[-3000:]
    # the same arithmetic, only summed in another order: float32 rounding over 8 steps of AdamW
    assert_same(trained(fsdp["whole"]), trained(tmp_path / "ddp"), rtol=1e-4, atol=1e-5)


def test_killed_fsdp_run_resumes_to_the_same_weights_on_two_or_on_one_process(fsdp, tmp_path):
    cut = tmp_path / "cut"
    run_killed_after(fsdp["config"], cut, "step-00000004")
    shutil.copytree(cut, tmp_path / "on-one")
    resumed = run(fsdp["config"], cut, 2, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    whole = trained(fsdp["whole"])
    assert_same(trained(cut), whole)  # bit for bit
    # written by two processes, resumed by one: the shards are resharded on load
    alone = run(fsdp["config"], tmp_path / "on-one", 1, "--resume")
    assert alone.returncode == 0, alone.stderr[-3000:]
    assert_same(trained(tmp_path / "on-one"), whole, rtol=1e-4, atol=1e-5)


def test_fsdp_in_bf16_with_activation_checkpointing_resumes_exactly(tmp_path):
    config = write_config(tmp_path, episodes=4, batch_size=4, max_steps=4, checkpoint_every=2, epochs=4,
                          strategy="fsdp", precision="bf16", gradient_checkpointing=True)  # fmt: skip
    result = run(config, tmp_path / "whole", 2)
    assert result.returncode == 0, result.stderr[-3000:]
    # the same run, as if it had been cut after step 2: its last snapshot and its result removed
    shutil.copytree(tmp_path / "whole", tmp_path / "again")
    shutil.rmtree(tmp_path / "again" / "checkpoints" / "step-00000004")
    for name in ("vla.safetensors", "backbone"):
        shutil.rmtree(tmp_path / "again" / name) if name == "backbone" else (tmp_path / "again" / name).unlink()
    resumed = run(config, tmp_path / "again", 2, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same(trained(tmp_path / "again"), trained(tmp_path / "whole"))
