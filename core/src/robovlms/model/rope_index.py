"""M-RoPE backbones whose model lays positions out only in ``get_rope_index`` (Qwen2.5-Omni's and
Qwen3-Omni's thinkers): it finds each image by the ``vision_start_token_id`` marker before its block and
has no ``get_vision_position_ids`` for one block. The prompt carries the marker before each image's
placeholders, as the checkpoint's processor writes it, and each block's positions come from the
model's own ``get_rope_index`` run over the marker and the block alone.
"""

from __future__ import annotations

import torch

from robovlms.model.mrope import MRoPEBackbone


class RopeIndexBackbone(MRoPEBackbone):
    """An :class:`MRoPEBackbone` whose blocks are laid out by the model's ``get_rope_index``."""

    #: the marker token before each image's placeholders (the tokenizer has it at ``vision_start_token_id``)
    vision_start = "<|vision_start|>"

    def vision_position_ids(self, start: int, grid: torch.Tensor, merge: int) -> torch.Tensor:
        """The block's positions as ``get_rope_index`` gives them after its marker, moved to ``start``."""
        tokens = int(grid.prod()) // (merge * merge)
        # the marker, the block, and a token after it (Qwen2.5-Omni counts one: the end marker's place)
        ids = torch.tensor([[self.model.config.vision_start_token_id] + [self.image_token_id] * tokens + [0]])
        positions, _ = self.model.model.get_rope_index(ids, grid[None], None, torch.ones_like(ids))
        # the marker takes position 0 and the block starts at 1; Qwen3-Omni's thinker gives them as floats
        return positions[:, 0, 1 : 1 + tokens].long() - 1 + start
