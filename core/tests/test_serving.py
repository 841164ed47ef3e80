"""robovlms serve: sessions over loopback match the in-process policy, and bad input costs only an error reply."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgpack
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from robovlms.cli import main
from robovlms.serving.client import PolicyClient, ServerError
from robovlms.serving.protocol import ProtocolError, encode, pack_array

MAX_BYTES = 32 * 2**10
TIMEOUT = 20.0


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny models on a shared CI machine: more threads only add contention."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def observations(seed: int, n: int) -> list[np.ndarray]:
    return list(np.random.default_rng(seed).integers(0, 256, (n, 40, 40, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    pytest.importorskip("robovlms_paligemma")
    pytest.importorskip("robovlms_action_heads")
    from robovlms import build_vla, load_config

    config = load_config(
        {
            "model": {"backbone": "paligemma", "action_head": "lstm", "history_length": 3, "action_chunk_size": 4},
            "action_head": {"hidden_size": 32, "num_layers": 1, "dropout": 0.0},
            "vlm": {"preset": "tiny"},
        }
    )
    path = tmp_path_factory.mktemp("serve") / "run"
    build_vla(config).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def server(run_dir):
    from robovlms.model.vla import VLA
    from robovlms.serving.server import PolicyServer

    with PolicyServer(VLA.from_pretrained(run_dir), port=0, max_bytes=MAX_BYTES).start() as served:
        yield served


@pytest.fixture(scope="module")
def reference(run_dir):
    """The same run loaded again, stepped in this process: what every session must reproduce."""
    from robovlms.model.vla import VLA

    vla = VLA.from_pretrained(run_dir)

    def actions(frames: list[np.ndarray], instruction: str) -> list[np.ndarray]:
        policy = vla.policy()
        policy.reset()
        return [policy.step({"image": frame, "instruction": instruction}) for frame in frames]

    return actions


@contextmanager
def raw(server) -> Iterator[ClientConnection]:
    """A bare websocket to the server, its hello read: for messages the client would never send."""
    with connect(server.url, compression=None, max_size=None, open_timeout=TIMEOUT) as connection:
        assert msgpack.unpackb(connection.recv(timeout=TIMEOUT))["type"] == "hello"
        yield connection


def ask(connection, payload) -> dict:
    connection.send(payload)
    return msgpack.unpackb(connection.recv(timeout=TIMEOUT))


def wait_for_sessions(server, count: int) -> None:
    deadline = time.monotonic() + TIMEOUT
    while server.sessions != count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.sessions == count


def test_concurrent_sessions_are_independent_and_match_the_in_process_policy(server, reference):
    episodes = {"a": (observations(1, 6), "pick up the red block"), "b": (observations(2, 6), "push the blue cube")}
    results: dict[str, list] = {}
    errors: list[BaseException] = []
    in_step = threading.Barrier(2, timeout=TIMEOUT)  # both sessions step at the same time, turn after turn

    def drive(name: str) -> None:
        frames, instruction = episodes[name]
        try:
            with PolicyClient(server.url, timeout=TIMEOUT) as client:
                client.reset()
                results[name] = []
                for frame in frames:
                    in_step.wait()
                    results[name].append(client.step(frame, instruction))
        except BaseException as exc:
            errors.append(exc)
            in_step.abort()

    threads = [threading.Thread(target=drive, args=(name,)) for name in episodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not errors, errors
    for name, (frames, instruction) in episodes.items():
        expected = reference(frames, instruction)
        got = results[name]
        np.testing.assert_allclose(np.stack([r.action for r in got]), np.stack(expected), atol=1e-6)
        assert [r.step for r in got] == list(range(len(frames)))
        assert all(r.model_call and r.chunk.shape == (4, 7) for r in got)
        np.testing.assert_allclose(got[-1].chunk[0], got[-1].action, atol=1e-6)
        assert {"wait_ms", "policy_ms", "server_ms", "round_trip_ms"} <= got[-1].timing.keys()
    assert not np.allclose(results["a"][-1].chunk, results["b"][-1].chunk)


def test_hello_says_what_the_policy_expects(server):
    with PolicyClient(server.url, timeout=TIMEOUT) as client:
        info = client.info
    assert info["protocol"] == 1 and info["max_bytes"] == MAX_BYTES
    assert (info["action_dim"], info["action_chunk_size"], info["history_length"]) == (7, 4, 3)


IMAGE = pack_array(np.zeros((40, 40, 3), np.uint8))


def step(**fields) -> bytes:
    return encode({"type": "step", "image": IMAGE, "instruction": "pick up the red block", **fields})


MALFORMED = {  # what a buggy or hostile client may send, and the error it must get back
    "text frame": ("a text frame", "got a text frame"),
    "not msgpack": (b"\xc1\x00", "not a msgpack message"),
    "not a map": (msgpack.packb([1, 2]), "map with a string 'type'"),
    "unknown type": (encode({"type": "jump"}), "unknown message type 'jump'"),
    "no image": (step(image=None), "image: expected a map"),
    "short data": (step(image={**IMAGE, "data": b"\x00" * 7}), "7 bytes of data for shape (40, 40, 3)"),
    "float64": (step(image={**IMAGE, "dtype": "float64"}), "dtype must be one of"),
    "negative shape": (step(image={**IMAGE, "shape": [40, -1, 3]}), "non-negative ints"),
    "float32 image": (step(image=pack_array(np.zeros((40, 40, 3), np.float32))), "expected dtype uint8"),
    "gray image": (step(image=pack_array(np.zeros((40, 40), np.uint8))), "expected shape (H, W, 3)"),
    "rgba image": (step(image=pack_array(np.zeros((40, 40, 4), np.uint8))), "expected shape (H, W, 3)"),
    "no instruction": (step(instruction=7), "observation['instruction']"),
    "oversized": (step(image=pack_array(np.zeros((120, 120, 3), np.uint8))), f"limit of {MAX_BYTES} bytes"),
}


@pytest.mark.parametrize(("payload", "expected"), MALFORMED.values(), ids=MALFORMED.keys())
def test_each_malformed_message_gets_its_error_and_the_session_goes_on(server, reference, payload, expected):
    with raw(server) as connection:
        assert ask(connection, encode({"type": "reset"})) == {"type": "reset"}
        reply = ask(connection, payload)
        assert reply["type"] == "error" and expected in reply["message"], reply
        assert "\n" not in reply["message"]
        frame = observations(3, 1)[0]
        reply = ask(connection, encode({"type": "step", "image": pack_array(frame), "instruction": "push"}))
    assert reply["type"] == "action" and reply["step"] == 0
    action = np.frombuffer(reply["action"]["data"], np.float32)
    np.testing.assert_allclose(action, reference([frame], "push")[0], atol=1e-6)


def test_step_before_reset_and_wrong_images_through_the_client(server):
    with PolicyClient(server.url, timeout=TIMEOUT) as client:
        with pytest.raises(ServerError, match=r"before policy\.reset\(\)"):
            client.step(observations(0, 1)[0], "push")
        client.reset()
        with pytest.raises(ServerError, match="dtype uint8"):
            client.step(np.zeros((40, 40, 3), np.float32), "push")
        with pytest.raises(ProtocolError, match="uint8 or float32"):
            client.step(np.zeros((40, 40, 3)), "push")  # float64 never leaves the robot
        with pytest.raises(ProtocolError, match="exceeds the server's limit"):
            client.step(np.zeros((200, 200, 3), np.uint8), "push")
        assert client.step(observations(0, 1)[0], "push").step == 0


def test_a_message_past_the_transport_limit_drops_only_its_own_connection(server, reference):
    frames = observations(4, 3)
    with PolicyClient(server.url, timeout=TIMEOUT) as other:
        other.reset()
        first = other.step(frames[0], "push")
        with raw(server) as flood, pytest.raises(ConnectionClosed) as closed:
            flood.send(b"\x00" * (3 * MAX_BYTES))
            flood.recv(timeout=TIMEOUT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big
        rest = [other.step(frame, "push") for frame in frames[1:]]
    expected = reference(frames, "push")
    np.testing.assert_allclose(np.stack([r.action for r in [first, *rest]]), np.stack(expected), atol=1e-6)


def test_a_client_vanishing_mid_episode_frees_its_session(server, reference):
    wait_for_sessions(server, 0)
    frames = observations(5, 4)
    with PolicyClient(server.url, timeout=TIMEOUT) as stays:
        stays.reset()
        kept = [stays.step(frames[0], "push")]
        gone = PolicyClient(server.url, timeout=TIMEOUT)
        gone.reset()
        gone.step(frames[0], "push")
        wait_for_sessions(server, 2)
        gone._connection.socket.shutdown(socket.SHUT_RDWR)  # no closing handshake: the cable is pulled
        wait_for_sessions(server, 1)
        kept += [stays.step(frame, "push") for frame in frames[1:]]
    np.testing.assert_allclose(np.stack([r.action for r in kept]), np.stack(reference(frames, "push")), atol=1e-6)
    wait_for_sessions(server, 0)


def test_a_model_with_the_robot_state_takes_it_through_the_client(tmp_path):
    from robovlms import build_vla, load_config
    from robovlms.serving.server import PolicyServer

    config = load_config(
        {
            "model": {"backbone": "paligemma", "action_head": "mlp", "history_mode": "one_step", "state_dim": 2},
            "action_head": {"hidden_size": 32, "num_layers": 1, "dropout": 0.0},
            "vlm": {"preset": "tiny"},
            "data": {"state_key": "observation.state"},
        }
    )
    vla = build_vla(config).eval()
    frame, state = observations(4, 1)[0], np.array([0.25, -0.5], np.float32)
    policy = vla.policy()
    policy.reset()
    expected = policy.step({"image": frame, "instruction": "push", "state": state})
    with PolicyServer(vla, port=0).start() as served, PolicyClient(served.url, timeout=TIMEOUT) as client:
        assert client.info["state_dim"] == 2
        client.reset()
        with pytest.raises(ServerError, match=r"observation\['state'\]: missing"):
            client.step(frame, "push")
        np.testing.assert_allclose(client.step(frame, "push", state).action, expected, atol=1e-6)


def test_a_taken_port_is_a_one_line_error(server, run_dir):
    from robovlms.errors import RoboVLMsError
    from robovlms.serving.server import PolicyServer

    port = int(server.url.rsplit(":", 1)[1])
    with pytest.raises(RoboVLMsError, match=f"cannot listen on 127.0.0.1:{port}"):
        PolicyServer(server.vla, port=port)


def test_no_server_is_a_one_line_client_error():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ServerError, match="cannot connect to a policy server"):
        PolicyClient(f"ws://127.0.0.1:{port}", timeout=2)


def test_the_client_imports_without_torch():
    code = "import sys, robovlms.serving.client; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_serve_command_end_to_end(run_dir, reference):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "robovlms", "serve", str(run_dir), "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(60)
        assert lines and lines[0].startswith(f"serving {run_dir} on ws://127.0.0.1:"), lines
        url = lines[0].split(" on ", 1)[1].split()[0]
        frame = observations(6, 1)[0]
        with PolicyClient(url, timeout=TIMEOUT) as client:
            client.reset()
            action = client.step(frame, "push").action
        np.testing.assert_allclose(action, reference([frame], "push")[0], atol=1e-6)
    finally:
        process.terminate()
        process.wait(TIMEOUT)


def test_serve_without_a_run_is_a_one_line_error(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "missing"), "--port", "0"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


# -- limits: one client cannot stall the others --------------------------------------------------------------


@pytest.fixture(scope="module")
def limited(run_dir):
    from robovlms.model.vla import VLA
    from robovlms.serving.server import Limits, PolicyServer

    limits = Limits(max_instruction_chars=100, max_image_side=128, max_sessions=2, idle_timeout=1.0)
    with PolicyServer(VLA.from_pretrained(run_dir), port=0, max_bytes=4 * 2**20, limits=limits).start() as served:
        yield served


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"instruction": "x" * 101}, "instruction: 101 characters; the server takes at most 100"),
        ({"image": np.zeros((1, 200_000, 3), np.uint8)}, "at most 128 pixels a side"),
        ({"image": np.zeros((129, 8, 3), np.uint8)}, "at most 128 pixels a side"),
    ],
)
def test_oversized_instructions_and_frames_are_refused_before_any_work(limited, fields, expected):
    message = {"type": "step", "image": pack_array(np.zeros((32, 32, 3), np.uint8)), "instruction": "pick"}
    message.update({k: pack_array(v) if isinstance(v, np.ndarray) else v for k, v in fields.items()})
    with raw(limited) as connection:
        ask(connection, encode({"type": "reset"}))
        reply = ask(connection, encode(message))
        assert reply["type"] == "error" and expected in reply["message"] and len(reply["message"]) < 300
        # the session goes on
        ok = ask(connection, step(image=pack_array(np.zeros((32, 32, 3), np.uint8)), instruction="pick"))
        assert ok["type"] == "action"


def test_the_hello_announces_the_limits(limited):
    with PolicyClient(limited.url, timeout=TIMEOUT) as client:
        assert (client.info["max_instruction_chars"], client.info["max_image_side"]) == (100, 128)


def test_connections_beyond_the_cap_are_refused_with_a_reason(limited):
    with PolicyClient(limited.url, timeout=TIMEOUT), PolicyClient(limited.url, timeout=TIMEOUT):
        wait_for_sessions(limited, 2)
        with pytest.raises(ServerError, match=r"the server is full \(2 sessions\)"):
            PolicyClient(limited.url, timeout=TIMEOUT)
    wait_for_sessions(limited, 0)


def test_an_idle_session_is_closed_and_its_place_freed(limited):
    with raw(limited) as connection:
        wait_for_sessions(limited, 1)
        with pytest.raises(ConnectionClosed) as excinfo:
            connection.recv(timeout=TIMEOUT)  # the client says nothing; the server closes after 1 s
        assert excinfo.value.rcvd is not None and excinfo.value.rcvd.reason == "idle"
    wait_for_sessions(limited, 0)


def test_a_client_that_leaves_mid_request_is_logged_without_a_traceback(limited, caplog):
    with caplog.at_level("INFO", logger="robovlms.serve"), raw(limited) as connection:
        connection.send(step(image=pack_array(np.zeros((32, 32, 3), np.uint8)), instruction="pick"))
    wait_for_sessions(limited, 0)
    assert not any(record.exc_info for record in caplog.records)


def test_several_cameras_travel_in_one_step_and_the_hello_names_them(tmp_path):
    pytest.importorskip("robovlms_paligemma")
    from robovlms import build_vla, load_config
    from robovlms.model.vla import VLA
    from robovlms.serving.server import PolicyServer

    cameras = {"observation.images.top": (40, 40), "observation.images.wrist": (24, 32)}
    config = load_config(
        {
            "model": {"backbone": "paligemma", "action_head": "mlp", "history_mode": "one_step", "history_length": 1},
            "vlm": {"preset": "tiny"},
            "data": {"image_keys": list(cameras)},
        }
    )
    vla = build_vla(config)
    vla.camera_sizes = cameras
    vla.save_pretrained(tmp_path / "run")
    rng = np.random.default_rng(4)
    steps = [
        {name: rng.integers(0, 256, (*size, 3), dtype=np.uint8) for name, size in cameras.items()} for _ in range(3)
    ]
    policy = VLA.from_pretrained(tmp_path / "run").policy()
    policy.reset()
    expected = [policy.step({"images": frames, "instruction": "stack"}) for frames in steps]
    with (
        PolicyServer(VLA.from_pretrained(tmp_path / "run"), port=0).start() as server,
        PolicyClient(server.url) as client,
    ):
        assert client.info["cameras"] == [
            {"name": "observation.images.top", "height": 40, "width": 40},
            {"name": "observation.images.wrist", "height": 24, "width": 32},
        ]
        client.reset()
        got = [client.step(frames, "stack").action for frames in steps]
        with pytest.raises(ServerError, match=r"missing camera 'observation\.images\.wrist'"):
            client.step({"observation.images.top": steps[0]["observation.images.top"]}, "stack")
        with pytest.raises(ServerError, match="reads 2 cameras"):
            client.step(steps[0]["observation.images.top"], "stack")
    np.testing.assert_array_equal(np.stack(got), np.stack(expected))
