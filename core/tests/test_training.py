"""robovlms train: metrics, checkpoints, exact resume after a kill, and its one-line refusals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from robovlms import VLA, CheckpointError, RoboVLMsError, load_config
from robovlms.datasets.recording import generate
from robovlms.training import snapshots
from robovlms.training.trainer import train

pytest.importorskip("robovlms_paligemma")
pytest.importorskip("robovlms_action_heads")


def config_dict(dataset: Path, **training) -> dict:
    return {
        "model": {"backbone": "paligemma", "action_head": "lstm", "history_length": 2, "action_chunk_size": 2},
        "training": {"batch_size": 4, "learning_rate": 3e-3, "epochs": 1, "log_every": 1, **training},
        "action_head": {"hidden_size": 32, "num_layers": 1, "dropout": 0.1},
        "vlm": {"preset": "tiny"},
        "data": {"path": str(dataset), "validation_split": 0.25},
    }


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "tabletop"
    generate(path, 8, seed=0, image_size=32)
    return path


def write_config(tmp_path: Path, dataset: Path, **training) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config_dict(dataset, **training)))
    return path


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "robovlms", *args], capture_output=True, text=True, env=environment)


def test_train_writes_metrics_checkpoints_and_a_loadable_model(dataset, tmp_path):
    config = load_config(config_dict(dataset, max_steps=12, eval_every=3, checkpoint_every=4, keep_checkpoints=2))
    train(config, tmp_path / "run", progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["event"] == "start" and rows[0]["effective_batch_size"] == 4
    steps = [r for r in rows if "step" in r]
    assert [r["step"] for r in steps] == list(range(1, 13))
    assert all({"loss", "lr", "samples_per_s"} <= set(r) for r in steps)
    validation = [r["val_loss"] for r in steps if r.get("val_loss") is not None]
    assert len(validation) == 4 and validation[-1] < validation[0], validation
    assert [p.name for p in snapshots.snapshots(tmp_path / "run")] == ["step-00000008", "step-00000012"]
    vla = VLA.from_pretrained(tmp_path / "run")
    assert vla.normalizer.mode == "quantile"
    assert vla.normalizer.provenance == {"source": "computed", "dataset": str(dataset.resolve())}


def test_a_run_with_the_robot_state_fits_its_range_and_needs_it_at_inference(dataset, tmp_path):
    import numpy as np

    from robovlms.datasets import LeRobotDataset
    from robovlms.envs.tabletop import TabletopEnv
    from robovlms.errors import InputError

    data = config_dict(dataset, max_steps=3)
    data["model"]["state_dim"] = 4
    data["data"]["state_key"] = "observation.state"
    train(load_config(data), tmp_path / "run", progress=False)
    vla = VLA.from_pretrained(tmp_path / "run")
    stats = LeRobotDataset(dataset).stats["observation.state"]
    np.testing.assert_allclose(vla.state_encoder.low.numpy(), stats["q01"], atol=1e-6)
    np.testing.assert_allclose(vla.state_encoder.high.numpy(), stats["q99"], atol=1e-6)
    policy, observation = vla.policy(), TabletopEnv(image_size=32).reset(0)
    policy.reset()
    assert policy.step(observation).shape == (7,)  # the tabletop's observations carry the state
    with pytest.raises(InputError, match=r"observation\['state'\]: missing"):
        policy.step({**observation, "state": None})


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "checkpoints" / snapshots.snapshots(run)[-1].name / "model.safetensors"))


def test_killed_run_resumes_to_the_same_weights(dataset, tmp_path):
    config = write_config(tmp_path, dataset, max_steps=16, checkpoint_every=2, epochs=3)
    assert cli("train", str(config), "--output", str(tmp_path / "whole"), "--no-progress").returncode == 0

    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "robovlms",
        "train",
        str(config),
        "--output",
        str(tmp_path / "cut"),
        "--no-progress",
    ]
    process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (tmp_path / "cut" / "checkpoints" / "step-00000004").exists() and time.time() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "cut" / "vla.safetensors").exists(), "the run finished before it could be killed"

    resumed = cli("train", str(config), "--output", str(tmp_path / "cut"), "--resume", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    whole, cut = weights(tmp_path / "whole"), weights(tmp_path / "cut")
    assert whole.keys() == cut.keys()
    for name in whole:
        torch.testing.assert_close(cut[name], whole[name], rtol=0, atol=0, msg=name)


def test_a_failed_checkpoint_write_keeps_the_previous_one(dataset, tmp_path, monkeypatch):
    config = load_config(config_dict(dataset, max_steps=4, checkpoint_every=2))
    original = snapshots.save_model

    def disk_full_on_second(model, path):
        if "step-00000004" in path:
            raise OSError(28, "No space left on device")
        original(model, path)

    monkeypatch.setattr(snapshots, "save_model", disk_full_on_second)
    with pytest.raises(CheckpointError) as excinfo:
        train(config, tmp_path / "run", progress=False)
    message = str(excinfo.value)
    assert "No space left on device" in message and "previous checkpoints are intact" in message and "\n" not in message
    (only,) = snapshots.snapshots(tmp_path / "run")
    assert only.name == "step-00000002"
    assert not list((tmp_path / "run" / "checkpoints").glob(".tmp-*"))
    assert load_file(str(only / "model.safetensors"))


def one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr


def test_missing_dataset(tmp_path):
    config = write_config(tmp_path, tmp_path / "nowhere")
    assert "nowhere" in one_line_failure(cli("train", str(config), "--output", str(tmp_path / "run")))


def test_fp16_on_a_cpu_is_refused_before_anything_is_written(dataset, tmp_path):
    config = write_config(tmp_path, dataset, precision="fp16")
    message = one_line_failure(cli("train", str(config), "--output", str(tmp_path / "run")))
    assert "training.precision: fp16 needs a GPU" in message
    assert not (tmp_path / "run").exists()


def test_corrupt_parquet(dataset, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(dataset, broken)
    for data in (broken / "data").rglob("*.parquet"):
        data.write_bytes(data.read_bytes()[:200])
    config = write_config(tmp_path, broken)
    assert "parquet" in one_line_failure(cli("train", str(config), "--output", str(tmp_path / "run")))


def test_feature_the_dataset_lacks(dataset, tmp_path):
    data = config_dict(dataset)
    data["data"]["image_keys"] = ["observation.images.wrist"]
    (tmp_path / "config.json").write_text(json.dumps(data))
    message = one_line_failure(cli("train", str(tmp_path / "config.json"), "--output", str(tmp_path / "run")))
    assert "observation.images.wrist" in message


def test_output_holding_another_run_is_refused(dataset, tmp_path):
    train(load_config(config_dict(dataset, max_steps=1)), tmp_path / "run", progress=False)
    config = write_config(tmp_path, dataset, max_steps=1)
    assert "--resume" in one_line_failure(cli("train", str(config), "--output", str(tmp_path / "run")))
    other = config_dict(dataset, max_steps=1, learning_rate=1e-2)
    with pytest.raises(RoboVLMsError, match="holds a different run"):
        train(load_config(other), tmp_path / "run", resume=True, progress=False)


def test_overrides_from_the_command_line(dataset, tmp_path):
    config = write_config(tmp_path, dataset)
    result = cli("train", str(config), "--output", str(tmp_path / "run"), "--max-steps", "2", "--set", "training.lr=1")
    assert "training.lr: unknown key" in one_line_failure(result)


def test_resume_passes_over_a_damaged_newest_checkpoint_to_the_same_weights(dataset, tmp_path):
    config = write_config(tmp_path, dataset, max_steps=6, checkpoint_every=2, keep_checkpoints=3, epochs=2)
    for name in ("whole", "damaged"):
        assert cli("train", str(config), "--output", str(tmp_path / name), "--no-progress").returncode == 0
    # the newest checkpoint damaged on disk, a half-written one beside it, the final model gone
    run = tmp_path / "damaged"
    newest = run / "checkpoints" / "step-00000006" / "model.safetensors"
    newest.write_bytes(newest.read_bytes()[:64])
    (run / "checkpoints" / ".tmp-step-00000008").mkdir()
    (run / "vla.safetensors").unlink()
    resumed = cli("train", str(config), "--output", str(run), "--resume", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    (line,) = [line for line in resumed.stderr.splitlines() if line.startswith("resume:")]
    assert "step-00000006" in line and "resuming from step-00000004" in line
    assert not (run / "checkpoints" / ".tmp-step-00000008").exists(), "leftover temporary folders are removed"
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [entry["step"] for entry in logged if "step" in entry]
    assert steps == sorted(set(steps)) == list(range(1, 7)), f"each step once in metrics.jsonl: {steps}"
    # resumed from step 4 and trained to 6 again: the weights of the uninterrupted run
    whole, again = weights(tmp_path / "whole"), weights(run)
    for name in whole:
        torch.testing.assert_close(again[name], whole[name], rtol=0, atol=0, msg=name)


def test_resume_with_every_checkpoint_damaged_is_one_line(dataset, tmp_path):
    config = write_config(tmp_path, dataset, max_steps=2, checkpoint_every=1)
    assert cli("train", str(config), "--output", str(tmp_path / "run"), "--no-progress").returncode == 0
    for snapshot in (tmp_path / "run" / "checkpoints").iterdir():
        (snapshot / "trainer_state.pt").write_bytes(b"not a torch file")
    resumed = cli("train", str(config), "--output", str(tmp_path / "run"), "--resume", "--no-progress")
    assert resumed.returncode == 2 and "no intact checkpoint to resume from" in resumed.stderr
    assert len(resumed.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "cameras,video",
    [
        (("observation.images.scene", "observation.images.wrist"), False),
        (("observation.image", "observation.images.wrist", "observation.images.scene"), True),
    ],
)
def test_every_camera_of_an_image_or_video_dataset_trains_and_the_run_knows_its_cameras(tmp_path, cameras, video):
    from robovlms.envs.tabletop import TabletopEnv

    if video:
        pytest.importorskip("av")
    generate(tmp_path / "data", 4, seed=0, image_size=32, cameras=cameras, video=video)
    data = config_dict(tmp_path / "data", max_steps=2, log_every=1)
    data["data"]["image_keys"] = list(cameras)
    train(load_config(data), tmp_path / "run", progress=False)
    vla = VLA.from_pretrained(tmp_path / "run")
    assert vla.cameras == list(cameras) and vla.camera_sizes == dict.fromkeys(cameras, (32, 32))
    assert vla.camera_embedding is not None and vla.camera_embedding.shape[0] == len(cameras)
    trained = load_file(str(tmp_path / "run" / "vla.safetensors"))["camera_embedding"]
    assert trained.abs().sum() > 0, "the camera embedding learned nothing"
    policy, observation = vla.policy(), TabletopEnv(image_size=32, cameras=cameras).reset(0)
    policy.reset()
    assert policy.step(observation).shape == (7,)
