"""NaViT backbones whose language model takes canvas M-RoPE positions (MiniCPM-V 4.7).

The model's ``get_rope_index`` finds each image by its markers in the token ids: the ``<image>`` marker
before the image's tokens sits at the canvas's origin with its row and column one short (a halo), the
tokens take ``(origin, origin + row, origin + column)``, the ``</image>`` marker after them the canvas's far
corner, and text goes on after the canvas's longer side. robovlms's ``forward_text`` sees embeddings, not
ids, so the prompt writes the markers right around its image's placeholders, no other marker after
``</image>``, and the positions follow from where the images sit, as ``get_rope_index`` would lay them
out over the same tokens. One frame is one slice, so no ``<slice>`` markers.
"""

from __future__ import annotations

from typing import Any

import torch

from robovlms.model.sequence import NO_IMAGE, ImageLayout, image_runs
from robovlms.model.target_sizes import TargetSizesBackbone


class CanvasRoPEBackbone(TargetSizesBackbone):
    """A :class:`TargetSizesBackbone` whose text and image tokens take canvas M-RoPE positions."""

    @property
    def image_start(self) -> str:
        """The ``<image>`` marker before each image's placeholders: the tokenizer's token at ``image_start_id``."""
        return str(self.tokenizer.convert_ids_to_tokens(self.model.config.image_start_id))

    @property
    def image_end(self) -> str:
        """The ``</image>`` marker after them: the tokenizer's token at ``image_end_id``."""
        return str(self.tokenizer.convert_ids_to_tokens(self.model.config.image_end_id))

    def canvas_positions(self, image_index: torch.Tensor, attention_mask: torch.Tensor, layout: ImageLayout) -> Any:
        """``(3, B, L)`` positions as ``get_rope_index`` lays them out over these tokens; padding keeps 0. As
        there, the token before an image's run is its ``<image>`` marker; the token after it is ``</image>``
        for the prompt's image (image 0, which :meth:`prompt` brackets), while the images the VLA appends
        (further cameras and frames) are followed by other tokens, and text goes on after them."""
        patch, merge = self._vision.patch_size, self.merge_size
        grid = [layout.height // patch, layout.width // patch]
        rows, columns = grid[0] // merge, grid[1] // merge
        positions = torch.zeros(3, *image_index.shape, dtype=torch.long, device=image_index.device)
        for row in range(image_index.shape[0]):
            valid = attention_mask[row].bool()
            runs = image_runs(image_index[row][valid])
            pieces: list[torch.Tensor] = []
            current, origin, corner = 0, None, None
            for number, (image, length) in enumerate(runs):
                if image != NO_IMAGE:
                    start = current if origin is None else origin
                    block = self.model.model.get_vision_position_ids(start, grid, spatial_merge_size=merge)
                    pieces.append(block.cpu())
                    current, origin = start + max(rows, columns) + 1, None
                    corner = [start, start + rows, start + columns] if image == 0 else None
                    continue
                before_image = number + 1 < len(runs)
                text = []
                for k in range(length):
                    if k == 0 and corner is not None:  # </image>: the canvas's far corner
                        text.append(corner)
                    elif k == length - 1 and before_image:  # <image>: the next canvas's origin, a halo before it
                        origin = current
                        text.append([origin, max(origin - 1, 0), max(origin - 1, 0)])
                    else:
                        text.append([current] * 3)
                        current += 1
                pieces.append(torch.tensor(text).T)
                corner = None
            if pieces:
                positions[:, row, valid] = torch.cat(pieces, dim=1).to(positions.device)
        return positions

    def text_inputs(
        self, image_index: torch.Tensor, attention_mask: torch.Tensor, layout: ImageLayout
    ) -> dict[str, Any]:
        """Canvas M-RoPE's positions."""
        return {"position_ids": self.canvas_positions(image_index, attention_mask, layout)}
