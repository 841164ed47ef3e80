"""Which sense of ``token_type_ids`` a VLM reads, measured on a tiny model rather than guessed from names.

See :mod:`robovlms.model.token_types` for the two senses. Run over the same embeddings, a model
whose ids mark a prefix departs from its causal pass when all ids are 0 (all prefix); a model whose
ids mark image blocks departs only when they are 1; a model that ignores them departs from neither.
"""

from __future__ import annotations

import inspect
from typing import Any

from robovlms.model.token_types import TokenTypes


def token_types(model: Any) -> TokenTypes | None:
    """The sense in which ``model.model`` reads ``token_type_ids``; None when it takes none or ignores them."""
    import torch

    inner = model.model
    if "token_type_ids" not in inspect.signature(type(inner).forward).parameters:
        return None
    width = model.config.get_text_config().hidden_size
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(0)
        embeds = torch.randn(1, 6, width)
        mask = torch.ones(1, 6, dtype=torch.long)

        def run(**ids: torch.Tensor) -> torch.Tensor:
            return inner(inputs_embeds=embeds, attention_mask=mask, use_cache=False, **ids).last_hidden_state

        causal = run()
        if not torch.allclose(run(token_type_ids=torch.zeros_like(mask)), causal):
            return "prefix"
        if not torch.allclose(run(token_type_ids=torch.ones_like(mask)), causal):
            return "image"
    return None
