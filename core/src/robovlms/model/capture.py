"""Final hidden states read on the way through a VLM whose own forward returns logits only.

Kosmos-2 and BLIP run their text decoder inside a forward that hands back logits; the fidelity
test needs the decoder's final states, which a forward hook on it sees.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn


def final_states(module: nn.Module, run: Callable[[], Any], after: tuple[type[Exception], ...] = ()) -> torch.Tensor:
    """``module``'s ``last_hidden_state`` from the first time ``run()`` calls it.

    An exception of a type in ``after`` that ``run()`` raises once ``module`` has run is let pass: a forward
    that fails wrapping up its outputs (Llama 4's in transformers 5) has computed the states by then.
    """
    seen: list[torch.Tensor] = []
    hook = module.register_forward_hook(lambda _m, _i, out: seen.append(out.last_hidden_state))
    try:
        run()
    except after:
        if not seen:
            raise
    finally:
        hook.remove()
    return seen[0]
