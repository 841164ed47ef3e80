"""``robovlms new-plugin``: what it refuses, what it writes, and that what it writes works where users install it.

The main test is the one a plugin author lives through: generate a backbone for a transformers VLM
that no plugin of this repository covers (InternVL) and an action head, install both into a fresh
virtual environment next to the core and the action heads of this checkout, run their generated
tests there, and train a VLA on them by name from a config.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import robovlms
from robovlms.cli import main

ROOT = Path(__file__).resolve().parents[1]
HF_CLASS = "InternVLForConditionalGeneration"
TORCH = "torch==2.13.0"  # first, alone: an unpinned torch pulls a multi-GB CUDA build


def new_plugin(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["new-plugin", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["robovlms_Bad!"], "is not a valid distribution name"),
        (["my-vlm"], "named robovlms-<name>"),
        (["robovlms-MyVLM"], "named robovlms-<name>"),
        (["robovlms-llava"], "distribution robovlms-llava is already installed"),
        (["robovlms-mlp", "--kind", "action_head"], "action head name 'mlp' is taken by robovlms-action-heads"),
        (["robovlms-myvlm", "--hf-class", "NoSuchVLMForConditionalGeneration"], "has no model class"),
        (["robovlms-myvlm", "--hf-class", "InternVLForConditionalGenration"], f"did you mean {HF_CLASS}?"),
        (["robovlms-myhead", "--kind", "action_head", "--hf-class", HF_CLASS], "applies to backbones only"),
    ],
)
def test_refusals_are_one_line_and_write_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], message: str
) -> None:
    code, out, err = new_plugin(capsys, *args, "--output", str(tmp_path / "out"))
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_an_existing_folder_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "robovlms-myvlm").mkdir()
    (tmp_path / "robovlms-myvlm" / "keep.txt").write_text("mine")
    code, _, err = new_plugin(capsys, "robovlms-myvlm", "--output", str(tmp_path))
    assert code == 2 and "already exists" in err
    assert [p.name for p in tmp_path.rglob("*")] == ["robovlms-myvlm", "keep.txt"]


def test_a_class_of_another_pattern_gets_stubs_and_the_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """DiffusionGemma's forward takes no pixels, only its encoder's image features: a person decides, the
    generator says why."""
    code, out, _ = new_plugin(
        capsys, "robovlms-next", "--hf-class", "DiffusionGemmaForBlockDiffusion", "--output", str(tmp_path)
    )
    assert code == 0 and "not of a pattern robovlms knows" in out and "mm_encoder_outputs" in out
    modeling = (tmp_path / "robovlms-next/src/robovlms_next/modeling_next.py").read_text()
    assert "model_class = DiffusionGemmaForBlockDiffusion\n" in modeling
    for stub in ("TODO(text_tower)", "TODO(vision_tower)", "TODO(prompt)", "TODO(fusion)"):
        assert stub in modeling and stub in out
    assert "mm_encoder_outputs" in (tmp_path / "robovlms-next/README.md").read_text()


def test_summary_lists_exactly_the_decisions_left(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = new_plugin(capsys, "robovlms-myvlm", "--hf-class", HF_CLASS, "--output", str(tmp_path))
    assert code == 0 and "follows a pattern robovlms knows" in out
    todos = [line for line in out.splitlines() if "TODO(" in line]
    assert [line.split("TODO(")[1].split(")")[0] for line in todos] == ["prompt", "full preset"]
    pyproject = (tmp_path / "robovlms-myvlm/pyproject.toml").read_text()
    assert '[project.entry-points."robovlms.backbones"]\nmyvlm = "robovlms_myvlm.plugin"' in pyproject
    assert f'"robovlms>={robovlms.__version__},<0.2"' in pyproject and '"transformers>=' in pyproject


@pytest.mark.parametrize(
    ("hf_class", "said", "wrong"),
    [
        # a vision config with a patch size but no image size says so, not that both are missing
        ("InklingForConditionalGeneration", ["patch_size 40 but no image_size"], ["no image_size and"]),
        # encoder-decoders other than Florence-2's and Pix2Struct's kinds say what their encoder reads
        ("UdopForConditionalGeneration", ["bbox"], ["reads only the image"]),
        # a grid beyond Qwen-VL's image format from a torchvision-only processor that pads and tiles
        ("Lfm2VlForConditionalGeneration", ["takes spatial_shapes", "pads every frame", "torchvision"], []),
    ],
)
def test_reasons_say_what_the_class_does(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, hf_class: str, said: list[str], wrong: list[str]
) -> None:
    code, out, _ = new_plugin(capsys, "robovlms-other", "--hf-class", hf_class, "--output", str(tmp_path))
    reason = out.splitlines()[1]
    assert code == 0 and "not of a pattern robovlms knows" in reason
    assert all(words in reason for words in said) and not any(words in reason for words in wrong), reason


def test_a_grid_class_is_written_on_the_cores_mrope_backbone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Qwen2-VL (a grid of patches per image, M-RoPE): the adapter is the core's MRoPEBackbone and a prompt,
    the presets keep a pixel budget; only the prompt and the full preset are left to a person."""
    code, out, _ = new_plugin(
        capsys, "robovlms-qwen", "--hf-class", "Qwen2VLForConditionalGeneration", "--output", str(tmp_path)
    )
    assert code == 0 and "follows a pattern robovlms knows" in out, out
    assert [line.split("TODO(")[1].split(")")[0] for line in out.splitlines() if "TODO(" in line] == [
        "prompt",
        "full preset",
    ]
    package = tmp_path / "robovlms-qwen/src/robovlms_qwen"
    modeling = (package / "modeling_qwen.py").read_text()
    for line in ("class RoboQwen2VL(MRoPEBackbone):", "self.model.model.visual", "image.tokens"):
        assert line in modeling
    configuration = (package / "configuration_qwen.py").read_text()
    assert "BUDGETS = {" in configuration and '"mrope_section": [3, 3, 2]' in configuration


@pytest.mark.parametrize(
    ("hf_class", "lines"),
    [
        # prefix-LM and image blocks: the same core class, the sense of token_type_ids measured on the model
        ("PaliGemmaForConditionalGeneration", ["(TokenTypeBackbone):", 'token_types = "prefix"']),
        ("Gemma3ForConditionalGeneration", ["(TokenTypeBackbone):", 'token_types = "image"']),
        ("LlavaNextForConditionalGeneration", ["(TiledBackbone):"]),
        ("Blip2ForConditionalGeneration", ["(QFormerBackbone):"]),
        ("Kosmos2ForConditionalGeneration", ["(PositionMaskBackbone):"]),
        # cross-attention to the vision encoder's states: no placeholders in the prompt
        (
            "BlipForConditionalGeneration",
            ["(EncoderStatesBackbone):", "return f\"{self.tokenizer.bos_token or ''}{instruction}\""],
        ),
    ],
)
def test_other_layouts_are_written_on_a_core_class(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, hf_class: str, lines: list[str]
) -> None:
    """Images that enter other than through plain placeholders: the adapter subclasses the core class that
    knows how, and stays the pattern's (a prompt and the full preset are left to a person)."""
    code, out, _ = new_plugin(capsys, "robovlms-layout", "--hf-class", hf_class, "--output", str(tmp_path))
    assert code == 0 and "follows a pattern robovlms knows" in out, out
    assert [line.split("TODO(")[1].split(")")[0] for line in out.splitlines() if "TODO(" in line] == [
        "prompt",
        "full preset",
    ]
    modeling = (tmp_path / "robovlms-layout/src/robovlms_layout/modeling_layout.py").read_text()
    assert all(line in modeling for line in lines), modeling


def test_a_tiled_checkpoint_without_the_frames_pinpoint_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Presets pin a square frame to one tile; a checkpoint whose pinpoints would cut it into resized tiles
    is refused by name rather than tiled wrongly."""
    import torch

    from robovlms.config import VLMConfig
    from robovlms.errors import PluginError

    code, out, _ = new_plugin(
        capsys, "robovlms-tiled", "--hf-class", "LlavaNextForConditionalGeneration", "--output", str(tmp_path)
    )
    assert code == 0, out
    monkeypatch.syspath_prepend(str(tmp_path / "robovlms-tiled/src"))
    from robovlms_tiled.modeling_tiled import RoboLlavaNext

    robovlm = RoboLlavaNext.from_config(VLMConfig(preset="tiny"))
    assert robovlm.model.config.image_grid_pinpoints == [[32, 32]]
    robovlm.model.config.image_grid_pinpoints = [[32, 64], [64, 32]]
    wanted = r"image_grid_pinpoints \[\[32, 64\], \[64, 32\]\] has no \[32, 32\]"
    with pytest.raises(PluginError, match=wanted) as error:
        robovlm.encode_images(torch.zeros(1, 3, 32, 32))
    assert "\n" not in str(error.value)


def test_towers_under_other_names_and_images_per_sample(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """SmolVLM (SmolVLA's backbone) keeps its towers at model.model.text_model/vision_model and takes
    (batch, images, 3, H, W) pixels: the generated adapter says so (the sweep runs its tests)."""
    code, out, _ = new_plugin(
        capsys, "robovlms-smol", "--hf-class", "SmolVLMForConditionalGeneration", "--output", str(tmp_path)
    )
    assert code == 0 and "follows a pattern robovlms knows" in out, out
    modeling = (tmp_path / "robovlms-smol/src/robovlms_smol/modeling_smol.py").read_text()
    for line in ("self.model.model.text_model", "self.model.model.vision_model", "pixel_values.unsqueeze(1)"):
        assert line in modeling


def test_without_transformers_the_error_is_one_line(tmp_path: Path) -> None:
    """Finding 6: a machine without transformers gets a one-line error, not a traceback, and nothing written."""
    script = (
        "import sys; sys.modules['transformers'] = None\n"  # import transformers now raises ImportError
        "from robovlms.cli import main\n"
        f"sys.exit(main(['new-plugin', 'robovlms-myvlm', '--hf-class', {HF_CLASS!r}, '--output', {str(tmp_path)!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == "", done.stderr
    assert done.stderr.startswith("error: --hf-class needs transformers") and done.stderr.count("\n") == 1, done.stderr
    assert not any(tmp_path.iterdir())


def _run(command: list[str | Path], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(map(str, command))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_generated_plugins_pass_their_tests_and_train_in_a_fresh_environment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    start = time.perf_counter()
    assert new_plugin(capsys, "robovlms-internvl", "--hf-class", HF_CLASS, "--output", str(tmp_path))[0] == 0
    assert new_plugin(capsys, "robovlms-gripper-head", "--kind", "action_head", "--output", str(tmp_path))[0] == 0

    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON", "ROBOVLMS_"))}
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    pip = [python, "-m", "pip", "install", "--quiet"]
    _run([*pip, TORCH], tmp_path, env)
    plugins = [tmp_path / "robovlms-internvl", tmp_path / "robovlms-gripper-head"]
    _run([*pip, ROOT / "core", ROOT / "action-heads", *(f"{p}[test]" for p in plugins)], tmp_path, env)
    installed = time.perf_counter()

    tests = [p / "tests" for p in plugins]
    report = _run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests], tmp_path, env)
    summary = report.strip().splitlines()[-1]
    assert " passed" in summary and not any(word in summary for word in ("failed", "skipped", "error")), summary
    tested = time.perf_counter()

    listed = {p["name"]: p for p in json.loads(_run(["robovlms", "plugins", "--json"], tmp_path, env))}
    assert listed["internvl"]["status"] == listed["gripper_head"]["status"] == "ok"
    assert listed["internvl"]["distribution"] == "robovlms-internvl"

    _run(["robovlms", "dataset", "generate", "data", "--episodes", "4", "--image-size", "32"], tmp_path, env)
    config = {
        "model": {
            "backbone": "internvl",
            "action_head": "gripper_head",
            "history_mode": "interleaved",
            "history_length": 2,
            "action_chunk_size": 2,
        },
        "action_head": {"hidden_size": 32, "num_layers": 1},
        "vlm": {"preset": "tiny"},
        "training": {"batch_size": 2, "log_every": 1},
        "data": {"path": "data"},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    _run(["robovlms", "train", "config.json", "--output", "run", "--max-steps", "3", "--no-progress"], tmp_path, env)
    steps = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    losses = [s["loss"] for s in steps if "loss" in s]
    assert len(losses) == 3 and all(loss == loss for loss in losses)  # three steps, no NaN
    saved = json.loads((tmp_path / "run/plugins.json").read_text())
    assert saved["backbone"]["distribution"] == "robovlms-internvl"
    assert saved["action_head"]["distribution"] == "robovlms-gripper-head"
    print(
        f"\nnew-plugin to passing tests: {tested - start:.0f} s "
        f"({installed - start:.0f} s creating and installing the environment, {tested - installed:.0f} s of tests)"
    )
