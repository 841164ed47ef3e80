"""Careless and hostile inputs to the config and the command line: one line each, exit 2, nothing written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from robovlms import ConfigError, load_config
from robovlms.cli import main

#: values no machine can hold or no run can survive, each under the key that must name it
IMPOSSIBLE = [
    ({"training": {"learning_rate": float("inf")}}, "training.learning_rate"),
    ({"training": {"learning_rate": float("nan")}}, "training.learning_rate"),
    ({"inference": {"ensemble_decay": float("inf")}}, "inference.ensemble_decay"),
    ({"training": {"seed": -1}}, "training.seed"),
    ({"training": {"seed": 2**64}}, "training.seed"),
    ({"action_head": {"hidden_size": 2**63}}, "action_head.hidden_size"),
    ({"vlm": {"image_size": 10**20}}, "vlm.image_size"),
    ({"action_head": {"bins": 10**9}}, "action_head.bins"),
    ({"model": {"history_length": 10**6}}, "model.history_length"),
    ({"model": {"action_chunk_size": 10**6}}, "model.action_chunk_size"),
    ({"training": {"batch_size": 10**12}}, "training.batch_size"),
    ({"model": {"state_dim": 10**7}, "data": {"state_key": "s"}}, "model.state_dim"),
]


@pytest.mark.parametrize(("data", "key"), IMPOSSIBLE)
def test_validate_refuses_what_train_would_crash_on(data: dict, key: str, tmp_path: Path, capsys) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))  # Infinity and NaN as Python's json writes them
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert key in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_error_lines_repeat_at_most_200_characters_of_the_input() -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_config({"model": {"backbone": 7, "history_mode": "x" * 10_000}})
    assert all(len(problem) < 400 for problem in excinfo.value.problems)
    assert "..." in str(excinfo.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[" * 100_000 + "]" * 100_000, "invalid JSON"),  # the parser's recursion limit
        ('{"training": {"seed": 1' + "0" * 5000 + "}}", "invalid JSON"),  # beyond Python's int-digit limit
        ('{"data": {"image_keys": ' + "[" * 40 + '"x"' + "]" * 40 + "}}", "nested deeper"),
    ],
)
def test_absurd_json_is_refused_in_one_line(text: str, expected: str, tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(text)
    with pytest.raises(ConfigError) as excinfo:
        load_config(path)
    assert expected in str(excinfo.value) and "\n" not in str(excinfo.value)


def test_a_config_path_that_is_a_directory_or_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # reading it would wait for a writer forever
    for path in (tmp_path, fifo):
        with pytest.raises(ConfigError, match="not a regular file"):
            load_config(path)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["eval", "RUN", "--episodes", "0"], "--episodes: expected 1 to"),
        (["eval", "RUN", "--episodes", "-1"], "--episodes: expected 1 to"),
        (["eval", "RUN", "--workers", "0"], "--workers: expected 1 to"),
        (["eval", "RUN", "--workers", "-2"], "--workers: expected 1 to"),
        (["serve", "RUN", "--port", "99999"], "--port: expected 0 to 65535"),
        (["serve", "RUN", "--host", "not an address!"], "--host: expected an IP address or a host name"),
        (["serve", "RUN", "--host", "x" * 5000], "--host: expected an IP address or a host name"),
        (["dataset", "generate", "OUT", "--episodes", "2", "--image-size", "100000"], "--image-size: expected 16 to"),
        (["dataset", "generate", "OUT", "--episodes", "0"], "--episodes: expected 1 to"),
    ],
)
def test_command_line_arguments_are_range_checked(argv: list[str], expected: str, tmp_path: Path, capsys) -> None:
    argv = [str(tmp_path / a) if a in ("RUN", "OUT") else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1 and len(err) < 400
    assert not (tmp_path / "OUT").exists(), "nothing is written for a refused command"


def test_train_output_naming_a_file_is_refused_and_the_file_kept(tmp_path: Path, capsys) -> None:
    config, output = tmp_path / "config.json", tmp_path / "notes.txt"
    config.write_text("{}")
    output.write_text("my notes")
    assert main(["train", str(config), "--output", str(output)]) == 2
    assert "--output" in capsys.readouterr().err and output.read_text() == "my notes"
