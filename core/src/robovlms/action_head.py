"""The action-head contract: what an action-head plugin subclasses."""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from robovlms.config import HistoryMode


class BaseActionHead(nn.Module):
    """Turns the language model's hidden states at the action tokens into chunks of actions.

    Subclasses set ``name`` (the entry-point name) and ``history_modes`` (the ``model.history_mode``
    values they can serve; a config pairing the head with any other mode is refused).
    """

    name: ClassVar[str] = ""
    history_modes: ClassVar[tuple[HistoryMode, ...]] = ("one_step", "interleaved", "policy_head")
