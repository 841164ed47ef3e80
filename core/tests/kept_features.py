"""The check the core's tests of backbones that keep features for the language model's layers share
(:class:`~robovlms.model.deepstack.KeptDeepStack`: GraniteDocling's DeepStack, Granite 4 Vision's layer map)."""

from __future__ import annotations

import torch

from robovlms.model.deepstack import KeptDeepStack


def assert_kept_features_reach_the_language_model(robovlm: KeptDeepStack) -> torch.Tensor:
    """Two 32-pixel frames, their image tokens at different offsets in two prompts: robovlms's pass equals the
    VLM's own forward, and the same pass without the kept features differs from it, so the check could fail.

    Returns the frames' image tokens for checks of the test's own.
    """
    torch.manual_seed(1)
    pixels = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        tokens = robovlm.encode_images(pixels)
    image = robovlm.model.config.image_token_id
    count = tokens.shape[1]
    input_ids = torch.tensor([[2, *[image] * count, 5, 6, 7], [2, 8, *[image] * count, 9, 10]])
    attention_mask = torch.ones_like(input_ids)
    with torch.no_grad():
        ours = robovlm(pixels, input_ids, attention_mask)
        reference = robovlm.reference_forward(pixels, input_ids, attention_mask)
        embeds = robovlm.place_images(robovlm.embed_text(input_ids), input_ids, robovlm.encode_images(pixels))
        robovlm._deepstack = None  # what a robovlms_encode_images hook leaves: no kept features
        without = robovlm.forward_text(embeds, attention_mask, image_index=robovlm.prompt_image_index(input_ids))
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(without, reference, atol=1e-3)  # the features matter: the check above could fail
    return tokens
