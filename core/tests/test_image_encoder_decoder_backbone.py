"""The core's ImageEncoderDecoderBackbone and FlattenedPatchesBackbone: encoder-decoders whose encoder reads only
the image (PP-FormulaNet, Pix2Struct), their decoder run as robovlms's fusion module."""

from __future__ import annotations

import pytest
import torch
from tiny import tiny_backbone
from transformers import (
    Kosmos2_5Config,
    Kosmos2_5ForConditionalGeneration,
    Pix2StructConfig,
    Pix2StructForConditionalGeneration,
    PPFormulaNetConfig,
    PPFormulaNetForConditionalGeneration,
    SiglipImageProcessorPil,
)
from transformers.models.pix2struct.image_processing_pil_pix2struct import torch_extract_patches

from robovlms.model.flattened_patches import FlattenedPatchesBackbone, FlattenedPositionMaskBackbone, flatten_patches
from robovlms.model.image_encoder_decoder import ImageEncoderDecoderBackbone
from robovlms.scaffold.encoder_output import encoder_output
from robovlms.scaffold.hf import facts
from robovlms.testing.backbone_suite import assert_matches_own_forward


class PPFormulaNet(ImageEncoderDecoderBackbone):
    name = "pp_formulanet"
    model_class = PPFormulaNetForConditionalGeneration
    encoder_output = "pooler_output"


class Pix2Struct(FlattenedPatchesBackbone):
    name = "pix2struct"
    model_class = Pix2StructForConditionalGeneration


def _tiny(backbone: type, config_class: type) -> ImageEncoderDecoderBackbone:
    found = facts(backbone.model_class)
    assert found.cross and found.encoder_output and found.presets is not None  # new-plugin writes this adapter
    processor = SiglipImageProcessorPil(size={"height": 32, "width": 32})
    return tiny_backbone(backbone, config_class(**found.presets["tiny"]), processor)


@pytest.fixture(scope="module")
def pp_formulanet() -> ImageEncoderDecoderBackbone:
    return _tiny(PPFormulaNet, PPFormulaNetConfig)


@pytest.fixture(scope="module")
def pix2struct() -> ImageEncoderDecoderBackbone:
    return _tiny(Pix2Struct, Pix2StructConfig)


def test_the_measured_encoder_output_is_what_pp_formulanets_decoder_reads(
    pp_formulanet: ImageEncoderDecoderBackbone,
) -> None:
    """PP-FormulaNet's decoder reads the projected pooler_output, not the encoder's last_hidden_state."""
    assert encoder_output(pp_formulanet.model, 32) == "pooler_output"
    assert pp_formulanet.text_tower is pp_formulanet.model.model.decoder


@pytest.mark.parametrize("which", ["pp_formulanet", "pix2struct"])
def test_the_decoders_states_match_the_vlms_own_forward(which: str, request: pytest.FixtureRequest) -> None:
    """Left padding, the prompt in the decoder, the image through cross-attention: robovlms's pass equals the
    decoder states of the VLM's own forward; another image changes them (the decoder does read it)."""
    backbone: ImageEncoderDecoderBackbone = request.getfixturevalue(which)
    pixels = torch.randn(2, 3, 32, 32)
    ids = torch.tensor([[2, 5, 6, 7, 8], [0, 0, 2, 5, 9]])
    mask = torch.tensor([[1] * 5, [0, 0, 1, 1, 1]])
    ours = assert_matches_own_forward(backbone, pixels, ids, mask, atol=1e-5)
    with torch.no_grad():
        other = backbone(torch.randn(2, 3, 32, 32), ids, mask)
    valid = mask.bool()
    assert ours.shape == (2, 5, backbone.hidden_size)
    assert (other[valid] - ours[valid]).abs().max() > 1e-4


def test_frames_flatten_as_pix2structs_processor_lays_out_patches() -> None:
    """The pixels of each patch in its processor's order, after the patch's row and column counted from 1."""
    frames = torch.randn(2, 3, 16, 24)
    flat = flatten_patches(frames, 8)
    assert flat.shape == (2, 6, 2 + 3 * 8 * 8)
    torch.testing.assert_close(flat[..., 2:], torch_extract_patches(frames, 8, 8).reshape(2, 6, -1))
    assert flat[0, :, :2].tolist() == [[1, 1], [1, 2], [1, 3], [2, 1], [2, 2], [2, 3]]


class Kosmos25(FlattenedPositionMaskBackbone):
    name = "kosmos2_5"
    model_class = Kosmos2_5ForConditionalGeneration


def test_kosmos25s_image_positions_get_its_segment_embedding() -> None:
    """Kosmos-2.5 (Kosmos-2's position mask over flattened patches): robovlms's pass, image tokens at the
    placeholders, equals its own forward's text states, which add segment_emb at the image positions."""
    found = facts(Kosmos2_5ForConditionalGeneration)
    assert found.masked and found.flattened and found.presets is not None
    processor = SiglipImageProcessorPil(size={"height": 32, "width": 32})
    kosmos = tiny_backbone(Kosmos25, Kosmos2_5Config(**found.presets["tiny"]), processor)
    image, count = kosmos.model.config.image_token_id, kosmos.model.config.latent_query_num
    ids = torch.tensor([[2, *[image] * count, 5, 6], [0, 2, *[image] * count, 7]])  # pad 0, bos 2
    mask = torch.tensor([[1] * (count + 3), [0] + [1] * (count + 2)])
    pixels = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ours = kosmos(pixels, ids, mask)
        own = kosmos.reference_forward(pixels, ids, mask)
        unsegmented = kosmos.forward_text(kosmos.embed_prompt(pixels, ids)[0], mask)  # no image_index given
    valid = mask.bool()
    torch.testing.assert_close(ours[valid], own[valid], atol=1e-5, rtol=0)
    assert (unsegmented[valid] - own[valid]).abs().max() > 1e-4  # without the segments, it would differ
