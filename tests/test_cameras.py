"""Several cameras: every camera's frame reaches the model, in every fusion and history mode."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_config

from robovlms import VLA, InputError, build_vla

CAMERAS = ["observation.images.top", "observation.images.wrist"]


def camera_vla(backbone: str = "paligemma", head: str = "lstm", mode: str = "policy_head", cameras=CAMERAS) -> VLA:
    config = tiny_config(backbone, head, mode)
    config.data = config.data.model_copy(update={"image_keys": list(cameras)})
    vla = build_vla(config).eval()
    with torch.no_grad():  # a trained model tells its cameras apart; a zero embedding would hide a mix-up
        assert vla.camera_embedding is not None
        vla.camera_embedding.normal_(0, 0.5, generator=torch.Generator().manual_seed(0))
        for name, parameter in vla.backbone.named_parameters():
            if ".alpha_" in name:  # Idefics's cross-attention gates start nearly shut; training opens them
                parameter.fill_(1.0)
    return vla


def frames(batch: int = 2, steps: int = 3, seed: int = 0, cameras=CAMERAS, sizes=(40, 24)) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        c: rng.integers(0, 256, (batch, steps, s, s, 3), dtype=np.uint8) for c, s in zip(cameras, sizes, strict=False)
    }


INSTRUCTIONS = ["pick up the red block", "push the blue cube"]


@pytest.mark.parametrize("backbone", ["paligemma", "llava", "flamingo", "qwen2vl", "kosmos2"])
def test_one_camera_reads_what_the_backbone_forward_reads(backbone):
    """The assembled sequence of one frame is the backbone's own forward with the action tokens after the prompt."""
    vla = build_vla(tiny_config(backbone, "mlp", "one_step")).eval()
    assert vla.camera_embedding is None  # a one-camera model is what it was before cameras
    pixels = vla.pixels(np.random.default_rng(0).integers(0, 256, (2, 1, 40, 40, 3), dtype=np.uint8))[:, 0]
    prompts = vla.encode_instructions(INSTRUCTIONS, tuple(pixels.shape[-2:]))
    k = vla.action_tokens.shape[0]
    with torch.no_grad():
        suffix = vla.action_tokens.unsqueeze(0).expand(2, -1, -1)
        expected = vla.backbone(pixels[:, 0], prompts["input_ids"], prompts["attention_mask"], suffix=suffix)[:, -k:]
        got = vla.frame_features(pixels, prompts["input_ids"], prompts["attention_mask"])
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "backbone,head,mode",
    [
        ("paligemma", "mlp", "one_step"),
        ("paligemma", "mlp", "interleaved"),
        ("paligemma", "lstm", "policy_head"),
        ("flamingo", "mlp", "one_step"),
        ("flamingo", "discrete", "interleaved"),
        ("flamingo", "lstm", "policy_head"),
    ],
)
def test_the_second_camera_changes_the_prediction(backbone, head, mode):
    vla = camera_vla(backbone, head, mode)
    images = frames()
    with torch.no_grad():
        base = vla(images, INSTRUCTIONS)["prediction"]
        changed = dict(images, **{CAMERAS[1]: 255 - images[CAMERAS[1]]})
        other = vla(changed, INSTRUCTIONS)["prediction"]
        pixels, prompts, real = vla.pixels(images), vla.encode_instructions(INSTRUCTIONS), torch.ones(2, 3).bool()
        features = vla.window_features(pixels, prompts, real)
        swapped = vla.window_features(pixels.flip(2), prompts, real)  # each frame shown to the other camera
    assert not torch.allclose(base[:, -1], other[:, -1], atol=1e-4), "the wrist frame did not reach the head"
    # near-uniform attention in a random model averages the two cameras, so the gap is small but far above rounding
    assert not torch.allclose(features, swapped, atol=1e-5), "the model cannot tell the cameras apart"


@pytest.mark.parametrize("backbone", ["paligemma", "flamingo"])
def test_each_camera_has_its_images_positions(backbone):
    vla = camera_vla(backbone, "mlp", "interleaved", cameras=[*CAMERAS, "observation.images.side"])
    pixels = vla.pixels(frames(cameras=[*CAMERAS, "observation.images.side"], sizes=(40, 24, 32)))
    with torch.no_grad():
        sequence = vla.assemble(pixels, vla.encode_instructions(INSTRUCTIONS), torch.ones(2, 3, dtype=torch.bool))
    tokens = vla.image_tokens(pixels[:1, :1, :1]).shape[3]
    if backbone == "paligemma":  # 3 frames x 3 cameras, each a block of image tokens in the sequence
        counts = [int((sequence.image_of[0] == image).sum()) for image in range(9)]
        assert counts == [tokens] * 9 and not sequence.cross
    else:  # no image tokens in the sequence; each position sees the 3 cameras of its frame
        assert (sequence.image_of == -1).all()
        assert sequence.cross["image_tokens"].shape[1] == 9
        seen = sequence.cross["image_attention_mask"][0, sequence.actions[2, 0]]
        assert seen.tolist() == [0] * 6 + [1] * 3


def test_the_policy_encodes_each_new_frame_of_each_camera_once():
    vla = camera_vla()
    encoded = []
    original = vla.backbone.encode_images

    def counting(pixels):
        encoded.append(pixels.shape[0])
        return original(pixels)

    vla.backbone.encode_images = counting
    policy = vla.policy()
    policy.reset()
    rng = np.random.default_rng(0)
    steps = [{"images": {c: f[0, t] for c, f in frames(1, 5, seed=1).items()}, "instruction": "pick"} for t in range(5)]
    actions = [policy.step(s) for s in steps]
    assert sum(encoded) == 5 * len(CAMERAS) and policy.frames_encoded == 5
    policy.cache_features = False  # the cache gives what recomputing the window gives
    policy.reset()
    np.testing.assert_allclose(np.stack(actions), np.stack([policy.step(s) for s in steps]), atol=1e-5)
    wrist = rng.integers(0, 256, (24, 24, 3), np.uint8)
    policy.reset()
    for step in steps[:-1]:
        policy.step(step)
    moved = policy.step(dict(steps[-1], images=dict(steps[-1]["images"], **{CAMERAS[1]: wrist})))
    assert not np.allclose(moved[:-1], actions[-1][:-1], atol=1e-6), "the wrist frame did not change the action"


@pytest.mark.parametrize(
    "images,expected",
    [
        ({CAMERAS[0]: np.zeros((40, 40, 3), np.uint8)}, "missing camera 'observation.images.wrist'"),
        (
            {**{c: np.zeros((40, 40, 3), np.uint8) for c in CAMERAS}, "observation.images.side": np.zeros((4, 4, 3))},
            "unknown camera 'observation.images.side'",
        ),
        ({CAMERAS[0]: np.zeros((40, 40, 3), np.uint8), CAMERAS[1]: np.zeros((32, 24, 3), np.uint8)}, "32x24"),
        ({CAMERAS[0]: np.zeros((40, 40, 3), np.uint8), CAMERAS[1]: np.zeros((24, 24), np.uint8)}, "(H, W, 3)"),
    ],
)
def test_a_wrong_camera_is_a_one_line_error_that_names_it(images, expected):
    vla = camera_vla()
    vla.camera_sizes = {CAMERAS[0]: (40, 40), CAMERAS[1]: (24, 24)}
    policy = vla.policy()
    policy.reset()
    with pytest.raises(InputError) as caught:
        policy.step({"images": images, "instruction": "pick"})
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_a_single_image_is_refused_by_a_two_camera_model_and_taken_by_a_one_camera_one():
    policy = camera_vla().policy()
    policy.reset()
    with pytest.raises(InputError, match="reads 2 cameras"):
        policy.step({"image": np.zeros((40, 40, 3), np.uint8), "instruction": "pick"})
    one = build_vla(tiny_config("paligemma", "mlp", "one_step")).eval().policy()
    one.reset()
    by_name = one.step({"images": {"observation.image": np.full((40, 40, 3), 7, np.uint8)}, "instruction": "pick"})
    one.reset()
    single = one.step({"image": np.full((40, 40, 3), 7, np.uint8), "instruction": "pick"})
    np.testing.assert_array_equal(by_name, single)


def test_save_and_load_keep_the_cameras_their_sizes_and_embedding(tmp_path):
    vla = camera_vla("paligemma", "lstm", "policy_head")
    vla.camera_sizes = {CAMERAS[0]: (40, 40), CAMERAS[1]: (24, 24)}
    vla.save_pretrained(tmp_path / "vla")
    loaded = VLA.from_pretrained(tmp_path / "vla")
    assert loaded.cameras == CAMERAS and loaded.camera_sizes == vla.camera_sizes
    torch.testing.assert_close(loaded.camera_embedding, vla.camera_embedding)
    images = frames()
    torch.testing.assert_close(loaded.predict(images, INSTRUCTIONS), vla.predict(images, INSTRUCTIONS), atol=0, rtol=0)
