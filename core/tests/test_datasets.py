"""LeRobot v3 datasets: the layout on disk, round trips, training windows, and every way to get it wrong."""

from __future__ import annotations

import inspect
import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from robovlms.config import load_config
from robovlms.datasets import DatasetError, LeRobotDataset, LeRobotWriter
from robovlms.datasets.recording import generate
from robovlms.datasets.video import require_av
from robovlms.datasets.windows import WindowDataset, collate, feature_stats, open_training_data, split_episodes
from robovlms.envs.tabletop import ScriptedExpert, TabletopEnv
from robovlms.errors import RoboVLMsError
from robovlms.model.normalization import action_statistics
from robovlms.model.vla import VLA

SIZE = 32
EPISODES = 12
DATA = "data/chunk-000/file-000.parquet"


def record(seed: int, size: int = SIZE) -> tuple[str, dict[str, np.ndarray]]:
    env, expert = TabletopEnv(image_size=size), ScriptedExpert()
    observation, done, steps = env.reset(seed), False, []
    while not done:
        action = expert.act(env)
        steps.append((observation["images"]["observation.image"], observation["state"], action))
        observation, _, done = env.step(action)
    images, states, actions = (np.stack(column) for column in zip(*steps, strict=True))
    return env.instruction, {"observation.image": images, "observation.state": states, "action": actions}


FEATURES = {
    "observation.image": {"dtype": "image", "shape": [SIZE, SIZE, 3], "names": ["height", "width", "channels"]},
    "observation.state": {"dtype": "float32", "shape": [4], "names": None},
    "action": {"dtype": "float32", "shape": [7], "names": None},
}


@pytest.fixture(scope="module")
def recorded() -> list[tuple[str, dict[str, np.ndarray]]]:
    return [record(seed) for seed in range(EPISODES)]


@pytest.fixture(scope="module")
def written(tmp_path_factory, recorded) -> Path:
    root = tmp_path_factory.mktemp("lerobot") / "tabletop"
    with LeRobotWriter(root, FEATURES, fps=10, file_size_mb=0.01) as writer:  # about four episodes a file
        for task, frames in recorded:
            writer.add_episode(task, frames)
    return root


@pytest.fixture
def copy(written, tmp_path) -> Path:
    """A private copy of the dataset for a test to break."""
    return Path(shutil.copytree(written, tmp_path / "copy"))


def one_line_error(call, *needles: str) -> str:
    with pytest.raises(DatasetError) as excinfo:
        call()
    message = str(excinfo.value)
    assert isinstance(excinfo.value, RoboVLMsError) and "\n" not in message
    for needle in needles:
        assert needle in message, (needle, message)
    return message


# -- layout and round trip ---------------------------------------------------------------------------


#: the per-episode statistics LeRobot v3 writes for every feature (lerobot/datasets/compute_stats.py)
LEROBOT_STATS = ("min", "max", "mean", "std", "count", "q01", "q10", "q50", "q90", "q99")


def lerobot_v3_episode_columns(info: dict) -> dict[str, pa.DataType]:
    """Every column of ``meta/episodes`` in the LeRobot v3 layout as its documentation lists it, with its type."""
    columns: dict[str, pa.DataType] = {
        "episode_index": pa.int64(),
        "tasks": pa.list_(pa.string()),
        "length": pa.int64(),
        "data/chunk_index": pa.int64(),
        "data/file_index": pa.int64(),
        "dataset_from_index": pa.int64(),
        "dataset_to_index": pa.int64(),
        "meta/episodes/chunk_index": pa.int64(),
        "meta/episodes/file_index": pa.int64(),
    }
    for name, feature in info["features"].items():
        if feature["dtype"] == "video":
            columns.update({f"videos/{name}/{k}": pa.int64() for k in ("chunk_index", "file_index")})
            columns.update({f"videos/{name}/{k}": pa.float64() for k in ("from_timestamp", "to_timestamp")})
        visual = feature["dtype"] in ("image", "video")  # per channel, shaped (3, 1, 1)
        value = pa.list_(pa.list_(pa.list_(pa.float64()))) if visual else pa.list_(pa.float64())
        for stat in LEROBOT_STATS:
            columns[f"stats/{name}/{stat}"] = pa.list_(pa.int64()) if stat == "count" else value
    return columns


@pytest.mark.parametrize("video", [False, True])
def test_episodes_metadata_has_every_column_of_the_lerobot_v3_layout(tmp_path, video):
    if video:
        pytest.importorskip("av")
    cameras = ("observation.image", "observation.images.wrist")
    generate(tmp_path / "data", 3, image_size=SIZE, cameras=cameras, video=video)
    info = json.loads((tmp_path / "data/meta/info.json").read_text())
    table = pq.read_table(tmp_path / "data/meta/episodes/chunk-000/file-000.parquet")
    expected = lerobot_v3_episode_columns(info)
    assert {f.name: f.type for f in table.schema} == expected
    dataset = LeRobotDataset(tmp_path / "data")
    for row, episode in zip(table.to_pylist(), dataset.episodes, strict=True):
        actions = dataset.column(episode, "action").astype(np.float64)
        np.testing.assert_allclose(row["stats/action/mean"], actions.mean(0))
        np.testing.assert_allclose(row["stats/action/q50"], np.quantile(actions, 0.5, axis=0))
        assert row["stats/action/count"] == [episode.length] and row["stats/index/min"] == [episode.start]
        frames = dataset.frames(episode, "observation.images.wrist").reshape(-1, 3) / 255
        atol = 0.02 if video else 1e-9  # video frames come back from a lossy codec
        np.testing.assert_allclose(np.ravel(row["stats/observation.images.wrist/mean"]), frames.mean(0), atol=atol)
    stats = json.loads((tmp_path / "data/meta/stats.json").read_text())
    for name in info["features"]:
        assert set(stats[name]) == set(LEROBOT_STATS), name
    rows = table.to_pylist()
    weights = np.array([r["stats/observation.image/count"][0] for r in rows]) / stats["observation.image"]["count"][0]
    q99 = sum(w * np.array(r["stats/observation.image/q99"]) for w, r in zip(weights, rows, strict=True))
    np.testing.assert_allclose(stats["observation.image"]["q99"], q99)  # frames: LeRobot's count-weighted mean


def test_round_trip_keeps_frames_actions_tasks_and_stats(written, recorded):
    dataset = LeRobotDataset(written)
    assert len(dataset.episodes) == EPISODES
    for episode, (task, frames) in zip(dataset.episodes, recorded, strict=True):
        assert dataset.task(episode) == task and episode.tasks == (task,)
        np.testing.assert_array_equal(dataset.frames(episode, "observation.image"), frames["observation.image"])
        np.testing.assert_array_equal(dataset.column(episode, "action"), frames["action"])
        np.testing.assert_array_equal(dataset.column(episode, "observation.state"), frames["observation.state"])
    assert sorted(dataset.tasks) == sorted({task for task, _ in recorded})
    actions = np.concatenate([frames["action"] for _, frames in recorded]).astype(np.float64)
    saved = dataset.stats["action"]
    expected = action_statistics(actions)
    for key in ("min", "max", "mean", "std", "q01", "q99"):
        np.testing.assert_allclose(saved[key], expected[key], atol=1e-9)
    assert saved["count"] == [len(actions)]
    image = dataset.stats["observation.image"]
    assert np.shape(image["mean"]) == (3, 1, 1) and 0 <= np.min(image["min"]) <= np.max(image["max"]) <= 1


def test_episodes_metadata_without_the_stats_columns_still_reads(copy, recorded):
    """Datasets robovlms wrote before it wrote LeRobot's per-episode statistics."""
    path = copy / "meta/episodes/chunk-000/file-000.parquet"
    table = pq.read_table(path)
    pq.write_table(table.select([c for c in table.column_names if not c.startswith("stats/")]), path)
    dataset = LeRobotDataset(copy)
    np.testing.assert_array_equal(dataset.column(dataset.episodes[-1], "action"), recorded[-1][1]["action"])


def test_layout_matches_lerobot_v3(written):
    info = json.loads((written / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["fps"] == 10 and info["chunks_size"] == 1000
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert info["video_path"] is None
    assert info["total_episodes"] == EPISODES and info["total_tasks"] >= 2
    for name in ("observation.image", "observation.state", "action", "timestamp", "frame_index", "index"):
        assert {"dtype", "shape"} <= set(info["features"][name])
    assert info["features"]["observation.image"]["shape"] == [SIZE, SIZE, 3]

    episodes = pq.read_table(written / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    assert {"episode_index", "length", "tasks", "dataset_from_index", "dataset_to_index"} <= set(episodes[0])
    assert {"data/chunk_index", "data/file_index"} <= set(episodes[0])
    assert sum(e["length"] for e in episodes) == info["total_frames"]
    assert all(a["dataset_to_index"] == b["dataset_from_index"] for a, b in itertools.pairwise(episodes))

    tasks = pq.read_table(written / "meta/tasks.parquet")
    assert set(tasks.column_names) == {"task", "task_index"}
    assert json.loads(tasks.schema.metadata[b"pandas"])["index_columns"] == ["task"]

    files = sorted((written / "data").glob("chunk-*/file-*.parquet"))
    assert len(files) >= 2 and sum(pq.read_metadata(f).num_rows for f in files) == info["total_frames"]
    first = pq.read_table(files[0])
    assert len(set(first["episode_index"].to_pylist())) >= 2  # several episodes per file
    assert {"observation.image", "observation.state", "action", "timestamp", "frame_index", "episode_index"} <= set(
        first.column_names
    )
    assert {"index", "task_index"} <= set(first.column_names)
    image = first["observation.image"][0].as_py()
    assert set(image) == {"bytes", "path"} and image["bytes"].startswith(b"\x89PNG")
    assert first.schema.field("action").type == pa.list_(pa.float32(), 7)
    np.testing.assert_allclose(first["timestamp"].to_numpy()[:3], [0.0, 0.1, 0.2], rtol=1e-6)


def test_generate_is_deterministic_and_records_the_expert(tmp_path):
    one = generate(tmp_path / "a", 3, seed=5, image_size=SIZE)
    two = generate(tmp_path / "b", 3, seed=5, image_size=SIZE)
    assert one.frames == two.frames == LeRobotDataset(one.path).num_frames
    a, b = LeRobotDataset(one.path), LeRobotDataset(two.path)
    for x, y in zip(a.episodes, b.episodes, strict=True):
        np.testing.assert_array_equal(a.frames(x, "observation.image"), b.frames(y, "observation.image"))
        actions = a.column(x, "action")
        assert actions[-1, -1] == -1 and np.all(actions[:-1, -1] == 1)  # close once, at the end
    other = LeRobotDataset(generate(tmp_path / "c", 3, seed=6, image_size=SIZE).path)
    assert not np.array_equal(other.column(other.episodes[0], "action"), a.column(a.episodes[0], "action"))


# -- windows -----------------------------------------------------------------------------------------


def test_windows_hold_the_following_frames_and_chunks_masked_at_the_end(written, recorded):
    dataset = LeRobotDataset(written)
    windows = WindowDataset(dataset, history_length=4, action_chunk_size=3)
    assert len(windows) == dataset.num_frames
    frames = recorded[0][1]
    length = len(frames["action"])

    start = windows[0]
    assert start["images"].shape == (4, SIZE, SIZE, 3) and start["images"].dtype == np.uint8
    assert start["actions"].shape == (4, 3, 7) and start["actions"].dtype == np.float32
    assert start["frame_mask"].all() and start["action_mask"].all()
    np.testing.assert_array_equal(start["images"], frames["observation.image"][:4])
    np.testing.assert_array_equal(start["actions"][1], frames["action"][1:4])
    assert start["instruction"] == recorded[0][0]

    end = windows[length - 2]  # two real frames left in the episode
    assert end["frame_mask"].tolist() == [True, True, False, False]
    assert end["action_mask"].tolist() == [[True, True, False], [True, False, False], [False] * 3, [False] * 3]
    np.testing.assert_array_equal(end["actions"][0, :2], frames["action"][-2:])
    assert not end["actions"][~end["action_mask"]].any()
    np.testing.assert_array_equal(end["images"][3], frames["observation.image"][-1])  # padding repeats the last
    stated = WindowDataset(dataset, history_length=4, action_chunk_size=3, state_key="observation.state")
    states = stated[length - 2]["states"]
    np.testing.assert_array_equal(states[:2], frames["observation.state"][-2:])
    np.testing.assert_array_equal(states[3], frames["observation.state"][-1])

    following = windows[length]  # the next episode starts afresh
    np.testing.assert_array_equal(following["images"][0], recorded[1][1]["observation.image"][0])
    with pytest.raises(IndexError):
        windows[len(windows)]


def test_collate_gives_exactly_the_arguments_of_vla_forward(written):
    windows = WindowDataset(LeRobotDataset(written), history_length=2, action_chunk_size=5)
    batch = collate([windows[i] for i in range(3)])
    assert set(batch) == set(inspect.signature(VLA.forward).parameters) - {"self", "states"}
    with_state = WindowDataset(LeRobotDataset(written), 2, 5, state_key="observation.state")
    assert set(collate([with_state[i] for i in range(3)])) == set(inspect.signature(VLA.forward).parameters) - {"self"}
    assert batch["images"].shape == (3, 2, SIZE, SIZE, 3) and batch["images"].dtype == torch.uint8
    assert batch["frame_mask"].dtype == torch.bool and batch["action_mask"].shape == (3, 2, 5)
    assert batch["actions"].shape == (3, 2, 5, 7) and batch["actions"].dtype == torch.float32
    assert isinstance(batch["instructions"], list) and len(batch["instructions"]) == 3


def test_split_is_by_episode_and_deterministic_by_seed():
    train, held = split_episodes(20, 0.25, seed=3)
    assert (train, held) == split_episodes(20, 0.25, seed=3)
    assert len(held) == 5 and sorted(train + held) == list(range(20))
    assert held != split_episodes(20, 0.25, seed=4)[1]
    assert split_episodes(20, 0.0, seed=3) == (list(range(20)), [])
    assert split_episodes(1, 0.5, seed=0) == ([0], [])  # never an empty training set


def test_open_training_data_splits_episodes_and_reads_statistics(written, tmp_path):
    config = load_config(
        {
            "model": {"history_length": 3, "action_chunk_size": 4},
            "data": {"path": str(written), "validation_split": 0.25},
        }
    )
    data = open_training_data(config)
    assert data.state_statistics is None
    train = {e.index for e in data.train.episodes}
    held = {e.index for e in data.validation.episodes}
    assert len(held) == 3 and not train & held and len(train | held) == EPISODES
    assert len(data.train) + len(data.validation) == LeRobotDataset(written).num_frames
    assert data.collate is collate
    assert data.statistics == feature_stats(LeRobotDataset(written))

    bare = Path(shutil.copytree(written, tmp_path / "bare"))
    (bare / "meta/stats.json").unlink()  # statistics are then computed from the actions
    computed = feature_stats(LeRobotDataset(bare))
    for key in ("q01", "q99", "min", "max"):
        np.testing.assert_allclose(computed[key], data.statistics[key], atol=1e-6)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"image_keys": ["observation.images.wrist"]}, "data.image_keys"),
        ({"image_keys": ["observation.state"]}, "not an image"),
        ({"action_key": "actions"}, "data.action_key"),
        ({"state_key": "observation.joints"}, "data.state_key"),
    ],
)
def test_config_features_the_dataset_lacks_are_one_line_errors(written, data, needle):
    model = {"state_dim": 4} if "state_key" in data else {}
    config = load_config({"model": model, "data": {"path": str(written), **data}})
    named = next(iter(data.values()))
    named = named[0] if isinstance(named, list) else named
    one_line_error(lambda: open_training_data(config), needle, repr(named))


def test_an_action_dimension_other_than_the_models_is_an_error(written):
    config = load_config({"model": {"action_dim": 6}, "data": {"path": str(written)}})
    one_line_error(lambda: open_training_data(config), "model.action_dim")


def test_the_state_comes_with_its_statistics_and_must_have_the_models_length(written):
    data = {"path": str(written), "state_key": "observation.state"}
    opened = open_training_data(load_config({"model": {"state_dim": 4}, "data": data}))
    states = np.concatenate(
        [opened.train.dataset.column(e, "observation.state") for e in opened.train.dataset.episodes]
    )
    np.testing.assert_allclose(opened.state_statistics["q01"], np.quantile(states, 0.01, axis=0), atol=1e-5)
    assert opened.train[0]["states"].shape == (16, 4)  # the default history of 16 frames
    config = load_config({"model": {"state_dim": 3}, "data": data})
    one_line_error(lambda: open_training_data(config), "model.state_dim is 3", "[4]")


# -- broken datasets ---------------------------------------------------------------------------------


def rewrite(path: Path, change) -> None:
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


def test_missing_folder_or_info(tmp_path, copy):
    one_line_error(lambda: LeRobotDataset(tmp_path / "nowhere"), "no such dataset folder", "nowhere")
    (copy / "meta/info.json").unlink()
    one_line_error(lambda: LeRobotDataset(copy), "info.json", "missing")


def test_older_codebase_version_is_refused(copy):
    rewrite(copy / "meta/info.json", lambda info: {**info, "codebase_version": "v2.1"})
    one_line_error(lambda: LeRobotDataset(copy), "v2.1")


def test_missing_column(copy):
    path = copy / DATA
    pq.write_table(pq.read_table(path).drop_columns(["action"]), path)
    one_line_error(lambda: LeRobotDataset(copy), str(path), "'action'")


def test_wrong_shape(copy):
    def widen(info):
        info["features"]["action"]["shape"] = [8]
        return info

    rewrite(copy / "meta/info.json", widen)
    one_line_error(lambda: LeRobotDataset(copy), "'action'", "7 values per frame", "[8]")


def test_wrong_image_shape_is_found_when_decoding(copy):
    def enlarge(info):
        info["features"]["observation.image"]["shape"] = [64, 64, 3]
        return info

    rewrite(copy / "meta/info.json", enlarge)
    dataset = LeRobotDataset(copy)
    one_line_error(
        lambda: dataset.frames(dataset.episodes[0], "observation.image"), "'observation.image'", "[64, 64, 3]"
    )


def test_fewer_frames_than_declared(copy):
    path = copy / DATA
    table = pq.read_table(path)
    pq.write_table(table.slice(0, table.num_rows - 3), path)
    one_line_error(lambda: LeRobotDataset(copy), "info.json", "frames")


def test_more_frames_declared_than_held(copy):
    rewrite(copy / "meta/info.json", lambda info: {**info, "total_frames": info["total_frames"] + 5})
    one_line_error(lambda: LeRobotDataset(copy), "declares", "frames")


@pytest.mark.parametrize("target", [DATA, "meta/episodes/chunk-000/file-000.parquet", "meta/tasks.parquet"])
def test_corrupt_parquet(copy, target):
    (copy / target).write_bytes(b"PAR1 this is not parquet")
    one_line_error(lambda: LeRobotDataset(copy), target.split("/")[-1], "corrupt parquet")


def test_missing_data_file(copy):
    (copy / DATA).unlink()
    one_line_error(lambda: LeRobotDataset(copy), "file-000.parquet", "missing")


def test_writer_refuses_non_empty_folders_and_mismatched_episodes(written, tmp_path):
    one_line_error(lambda: LeRobotWriter(written, FEATURES, fps=10), "not empty")
    writer = LeRobotWriter(tmp_path / "new", FEATURES, fps=10)
    _, frames = record(0)
    one_line_error(lambda: writer.add_episode("t", {"action": frames["action"]}), "differ")
    one_line_error(lambda: writer.add_episode("t", {**frames, "action": frames["action"][:, :6]}), "'action'")
    one_line_error(writer.close, "no episodes")


# -- video -------------------------------------------------------------------------------------------


def test_video_without_the_extra_names_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "av", None)  # as if PyAV were not installed
    one_line_error(require_av, "pip install 'robovlms[video]'")
    video = {**FEATURES, "observation.image": {**FEATURES["observation.image"], "dtype": "video"}}
    one_line_error(lambda: LeRobotWriter(tmp_path / "v", video, fps=10), "robovlms[video]")


def test_video_round_trip(tmp_path, recorded, monkeypatch):
    pytest.importorskip("av")
    video = {**FEATURES, "observation.image": {**FEATURES["observation.image"], "dtype": "video"}}
    with LeRobotWriter(tmp_path / "v", video, fps=10, file_size_mb=0.0015) as writer:  # two episodes a file
        for task, frames in recorded[:4]:
            writer.add_episode(task, frames)
    info = json.loads((tmp_path / "v/meta/info.json").read_text())
    assert info["video_path"] == "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
    assert info["features"]["observation.image"]["info"]["video.fps"] == 10
    assert len(list((tmp_path / "v/videos/observation.image/chunk-000").glob("*.mp4"))) == 2
    dataset = LeRobotDataset(tmp_path / "v")
    assert dataset.episodes[1].videos["observation.image"][1] > 0  # the second episode of a file
    for episode, (_, frames) in zip(dataset.episodes, recorded, strict=False):
        decoded = dataset.frames(episode, "observation.image").astype(int)
        assert np.abs(decoded - frames["observation.image"]).max() <= 3  # only YUV rounding
    windows = WindowDataset(dataset, 2, 2)
    assert windows[0]["images"].shape == (2, SIZE, SIZE, 3)
    monkeypatch.setitem(sys.modules, "av", None)
    one_line_error(lambda: WindowDataset(LeRobotDataset(tmp_path / "v"), 2, 2), "robovlms[video]")


# -- command line ------------------------------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "robovlms", *args], capture_output=True, text=True)


def test_cli_generates_a_dataset_and_refuses_a_non_empty_folder(tmp_path):
    out = tmp_path / "demo"
    done = cli("dataset", "generate", str(out), "--episodes", "4", "--seed", "1", "--image-size", "24")
    assert done.returncode == 0, done.stderr
    dataset = LeRobotDataset(out)
    assert len(dataset.episodes) == 4 and dataset.features["observation.image"]["shape"] == [24, 24, 3]
    assert str(out) in done.stdout and f"{dataset.num_frames} frames" in done.stdout

    again = cli("dataset", "generate", str(out), "--episodes", "4")
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert again.stderr.strip().count("\n") == 0 and "not empty" in again.stderr


# -- hostile and careless metadata: each one line that names the file and what was expected -----------------


def _set(path: str, value):
    """A change to info.json that puts ``value`` at the dotted ``path``."""

    def change(info):
        *parents, last = path.split(".")
        target = info
        for part in parents:
            target = target[part]
        target[last] = value
        return info

    return change


@pytest.mark.parametrize(
    ("change", "needles"),
    [
        (_set("data_path", "../outside/file-{file_index:03d}.parquet"), ["data_path", "leaves the dataset folder"]),
        (_set("data_path", "/etc/{chunk_index}{file_index}"), ["data_path", "leaves the dataset folder"]),
        (_set("data_path", "data/{chunk_index:099999999d}.parquet"), ["data_path", "cannot be filled in"]),
        (_set("data_path", "data/{nonsense}.parquet"), ["data_path", "cannot be filled in"]),
        (_set("data_path", 7), ["data_path must be a path template string"]),
        (_set("fps", "ten"), ["fps must be a positive number"]),
        (_set("fps", -10), ["fps must be a positive number"]),
        (_set("total_frames", 0), ["total_frames must be a positive integer"]),
        (_set("features", []), ["features must be an object"]),
        (_set("features.action.shape", "7"), ["feature 'action' has shape '7'"]),
        (_set("features.action.shape", [2**40]), ["feature 'action' has shape"]),
        (_set("features.action.dtype", "complex128"), ["feature 'action' has dtype 'complex128'"]),
        (_set("features.action", {"dtype": "image", "shape": [32, 32]}), ["expected [H, W, 3]"]),
    ],
)
def test_info_json_of_the_wrong_shape_or_leaving_the_folder_is_refused(copy, change, needles):
    rewrite(copy / "meta/info.json", change)
    one_line_error(lambda: LeRobotDataset(copy), "info.json", *needles)


def _replace_column(path: Path, name: str, values) -> None:
    table = pq.read_table(path)
    column = table.schema.get_field_index(name)
    table = table.set_column(column, name, pa.array(values, type=table.schema.field(name).type))
    pq.write_table(table, path)


def test_non_finite_actions_name_the_episode_and_frame(copy):
    table = pq.read_table(copy / DATA)
    actions = table["action"].to_pylist()
    actions[3][0] = float("nan")
    _replace_column(copy / DATA, "action", actions)
    dataset = LeRobotDataset(copy)
    one_line_error(lambda: WindowDataset(dataset, 2, 2), "feature 'action' of episode 0", "at frame 3", "NaN")


@pytest.mark.parametrize(
    ("stats", "needle"),
    [
        ({"q01": [0.0] * 3}, "action.q01 must be a list of 7 numbers"),
        ({"q99": [float("nan")] * 7}, "action.q99 holds a value that is not a finite number"),
        ({"min": ["a"] * 7}, "action.min holds a value that is not a finite number"),
    ],
)
def test_statistics_of_the_wrong_length_or_not_finite_are_refused(copy, stats, needle):
    def change(saved):
        saved["action"].update(stats)
        return saved

    rewrite(copy / "meta/stats.json", change)
    one_line_error(lambda: feature_stats(LeRobotDataset(copy), "action", "stats.json"), "stats.json", needle)


def test_episode_metadata_of_the_wrong_types_is_refused(copy):
    (path,) = sorted((copy / "meta" / "episodes").glob("*/*.parquet"))[:1]
    table = pq.read_table(path)
    lengths = table["length"].to_pylist()
    lengths[0] = 0
    table = table.set_column(table.schema.get_field_index("length"), "length", pa.array(lengths, pa.int64()))
    pq.write_table(table, path)
    one_line_error(lambda: LeRobotDataset(copy), "episode 0", "length must be at least 1")


def test_a_frame_that_would_decompress_past_its_declared_size_is_refused_from_its_header(copy):
    import io

    from PIL import Image

    huge = io.BytesIO()
    Image.new("RGB", (8000, 8000)).save(huge, format="PNG")  # a few hundred KB on disk, 192 MB decoded
    cells = pq.read_table(copy / DATA)["observation.image"].to_pylist()
    cells[0] = {"bytes": huge.getvalue(), "path": None}
    _replace_column(copy / DATA, "observation.image", cells)
    dataset = LeRobotDataset(copy)
    one_line_error(
        lambda: dataset.frames(dataset.episodes[0], "observation.image"), "has frames of shape [8000, 8000, 3]"
    )


def test_a_task_that_changes_inside_an_episode_reaches_the_windows_after_the_change(copy):
    """LeRobot keeps a task per frame: windows whose newest frame is past the change train on the new task."""
    tasks = pq.read_table(copy / "meta" / "tasks.parquet")
    new = "now push the blue cube to the left"
    rows = [*tasks.to_pylist(), {"task_index": tasks.num_rows, "task": new}]
    pq.write_table(pa.Table.from_pylist(rows, schema=tasks.schema), copy / "meta" / "tasks.parquet")
    dataset = LeRobotDataset(copy)
    first = dataset.episodes[0]
    half = first.length // 2
    table = pq.read_table(copy / DATA)
    indices = table["task_index"].to_pylist()
    row = table["index"].to_pylist().index(first.start)
    for frame in range(half, first.length):
        indices[row + frame] = tasks.num_rows
    _replace_column(copy / DATA, "task_index", indices)
    dataset = LeRobotDataset(copy)
    assert dataset.frame_tasks(dataset.episodes[0]).tolist() == [0] * half + [tasks.num_rows] * (first.length - half)
    old = dataset.task(dataset.episodes[0])
    windows = WindowDataset(dataset, history_length=2, action_chunk_size=2, episodes=[0])
    seen = [windows[t]["instruction"] for t in range(first.length)]
    # a window starting at t ends at t + 1: it is about the new task once that frame is past the change
    assert seen == [old] * (half - 1) + [new] * (first.length - half + 1)


def test_a_task_index_outside_the_tasks_names_the_frame(copy):
    indices = pq.read_table(copy / DATA)["task_index"].to_pylist()
    indices[2] = 99
    _replace_column(copy / DATA, "task_index", indices)
    dataset = LeRobotDataset(copy)
    one_line_error(lambda: WindowDataset(dataset, 2, 2), "frame 2 of episode 0", "task_index 99")


def lerobot_style_stats(root: Path) -> dict:
    """``meta/stats.json`` as LeRobot aggregates it: global quantiles are frame-weighted means of the episodes'."""
    rows = pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    stats = json.loads((root / "meta/stats.json").read_text())
    counts = np.array([r["stats/action/count"][0] for r in rows], dtype=np.float64)
    for q in ("q01", "q10", "q50", "q90", "q99"):
        per_episode = np.array([r[f"stats/action/{q}"] for r in rows])
        stats["action"][q] = (counts @ per_episode / counts.sum()).tolist()
    return stats


def test_quantile_normalisation_is_exact_whoever_wrote_the_dataset_and_cached_beside_it(tmp_path, monkeypatch):
    from robovlms.datasets import statistics

    root = tmp_path / "shelf" / "dataset"
    generate(root, 12, seed=3, image_size=SIZE)
    (root / "meta/stats.json").write_text(json.dumps(lerobot_style_stats(root)))
    dataset = LeRobotDataset(root)
    actions = np.concatenate([dataset.column(e, "action") for e in dataset.episodes]).astype(np.float64)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))

    def data(mode: str):
        config = {"model": {"action_normalization": mode}, "data": {"path": str(root)}, "training": {"seed": 0}}
        return open_training_data(load_config(config))

    exact = data("quantile")
    np.testing.assert_allclose(exact.statistics["q01"], np.quantile(actions, 0.01, axis=0), atol=1e-6)
    np.testing.assert_allclose(exact.statistics["q99"], np.quantile(actions, 0.99, axis=0), atol=1e-6)
    assert exact.provenance == {"source": "computed", "dataset": str(root.resolve())}
    written = data("quantile_dataset")
    assert written.statistics["q99"] == dataset.stats["action"]["q99"] and written.provenance["source"] == "stats.json"
    gap = np.abs(np.subtract(exact.statistics["q99"], written.statistics["q99"])).max()
    assert gap > 1e-3, "the test dataset's mean of per-episode quantiles should differ from the exact ones"

    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before, "nothing was written into the dataset"
    cache = tmp_path / "shelf" / "dataset.robovlms-stats.json"
    assert set(json.loads(cache.read_text())["features"]) == {"action"}
    monkeypatch.setattr(statistics, "action_statistics", lambda values: pytest.fail("computed again"))
    assert data("quantile").statistics == exact.statistics  # read from the cache
    monkeypatch.undo()
    data_file = root / DATA
    data_file.write_bytes(data_file.read_bytes())  # rewritten (a new mtime): the cache is stale
    calls = []
    monkeypatch.setattr(statistics, "action_statistics", lambda values: calls.append(1) or action_statistics(values))
    data("quantile")
    assert calls == [1]
