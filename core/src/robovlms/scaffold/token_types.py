"""Which sense of ``token_type_ids`` a VLM reads, measured on a tiny model rather than guessed from names.

See :mod:`robovlms.model.token_types` for the two senses. What tells them apart is whether the
first position sees the last one (a change there changes it): with all ids 0, it does in a prefix-LM
(all prefix) and does not where ids mark images; with all ids 1, the other way round. A model that
reads no such ids answers the same to both.
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
        changed = embeds.clone()
        changed[:, -1] += 1.0
        mask = torch.ones(1, 6, dtype=torch.long)

        def sees_ahead(ids: torch.Tensor) -> bool:
            first = [
                inner(inputs_embeds=e, attention_mask=mask, token_type_ids=ids, use_cache=False).last_hidden_state[:, 0]
                for e in (embeds, changed)
            ]
            return not torch.allclose(*first)

        zeros, ones = sees_ahead(torch.zeros_like(mask)), sees_ahead(torch.ones_like(mask))
    if zeros and not ones:
        return "prefix"
    if ones and not zeros:
        return "image"
    return None
