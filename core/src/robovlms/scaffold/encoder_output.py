"""Which of its encoder's outputs an image-only encoder-decoder's decoder cross-attends, measured.

PP-FormulaNet's decoder reads the encoder's ``pooler_output`` (its states projected to the decoder's
width), Pix2Struct's and ``VisionEncoderDecoderModel``'s its ``last_hidden_state``; the names do not
say which, so a tiny model's own forward is watched: the decoder's ``encoder_hidden_states`` are
compared with each output (through ``enc_to_dec_proj`` where the model has one).
"""

from __future__ import annotations

from typing import Any

from robovlms.scaffold.hf import NotThePattern

OUTPUTS = ("last_hidden_state", "pooler_output")


def encoder_output(model: Any, image_size: int) -> str:
    """The name of the encoder output that ``model``'s own forward hands its decoder."""
    import torch

    parts = model.model if hasattr(getattr(model, "model", None), "decoder") else model
    seen: list[torch.Tensor] = []
    hook = parts.decoder.register_forward_pre_hook(
        lambda _m, _a, kwargs: seen.append(kwargs["encoder_hidden_states"]), with_kwargs=True
    )
    pixels = torch.randn(1, 3, image_size, image_size, generator=torch.Generator().manual_seed(0))
    start = torch.ones(1, 1, dtype=torch.long)
    try:
        with torch.no_grad():
            model(pixel_values=pixels, decoder_input_ids=start, use_cache=False)
            out = parts.encoder(pixel_values=pixels)
    finally:
        hook.remove()
    project = getattr(model, "enc_to_dec_proj", None)
    for name in OUTPUTS:
        states = getattr(out, name, None)
        if isinstance(states, torch.Tensor) and isinstance(project, torch.nn.Module):
            with torch.no_grad():
                states = project(states)
        if isinstance(states, torch.Tensor) and seen and states.shape == seen[0].shape:
            if torch.allclose(states, seen[0]):
                return name
    raise NotThePattern(
        f"{type(model).__name__}'s decoder cross-attends states that are none of its encoder's "
        f"{' or '.join(OUTPUTS)}: write model_encode_images for what its forward hands the decoder"
    )
