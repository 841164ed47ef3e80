"""How many tokens a grid class's encoder adds to an image's merged blocks, settled by running it.

Most grid classes (:class:`robovlms.model.grid.GridBackbone`) give one token per merged block of
patches; some end each row of blocks with a newline token (HY-V4-VL) and some also put a begin and an
end token around the image (HunYuan-VL), and their processors write a placeholder for each. The
generator asks the tiny model's own ``get_image_features`` for an image of 5 x 3 merged blocks and
reads both counts off the number of tokens it gives (15; 20 with a newline per row; 22 with the two ends too).
"""

from __future__ import annotations

from typing import Any

#: the probe image's size in merged blocks (rows, columns): more rows than an image has end tokens, so the
#: count's quotient by the rows is the tokens per row and its remainder those per image
PROBE = (5, 3)


def extra_tokens(model: Any) -> tuple[int, int]:
    """``(per row, per image)``: the tokens the encoder of ``model`` (a tiny grid model) adds besides one per
    merged block; ``(0, 0)`` where it adds none, or its merge is the processor's (the probe does not know it),
    or it does not run on a probe of flat zeros."""
    import torch

    vision = model.config.vision_config
    merge = getattr(vision, "spatial_merge_size", None)
    if not isinstance(merge, int):
        return (0, 0)
    patch, temporal = vision.patch_size, getattr(vision, "temporal_patch_size", None) or 1
    channels = getattr(vision, "in_channels", None) or getattr(vision, "num_channels", None) or 3
    rows, columns = PROBE[0] * merge, PROBE[1] * merge
    pixels = torch.zeros(rows * columns, channels * temporal * patch * patch)
    try:
        with torch.no_grad():
            output = model.model.get_image_features(
                pixel_values=pixels, image_grid_thw=torch.tensor([[1, rows, columns]])
            )
    except Exception:  # the check that follows runs the image path and names its failure
        return (0, 0)
    features = getattr(output, "pooler_output", output)
    count = sum(len(f) for f in features) if isinstance(features, (list, tuple)) else len(features)
    extra = count - PROBE[0] * PROBE[1]
    return divmod(extra, PROBE[0]) if extra > 0 else (0, 0)
