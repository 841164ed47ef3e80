"""The five heads against the standard action-head suite of ``robovlms.testing``."""

from __future__ import annotations

from typing import Any, ClassVar

from robovlms.testing import HeadConformance

SMALL: dict[str, Any] = {"hidden_size": 32, "num_layers": 2, "dropout": 0.0, "num_heads": 4}


class TestMLP(HeadConformance):
    head = "mlp"
    action_head: ClassVar[dict[str, Any]] = SMALL


class TestLSTM(HeadConformance):
    head = "lstm"
    action_head: ClassVar[dict[str, Any]] = SMALL


class TestGPT(HeadConformance):
    head = "gpt"
    action_head: ClassVar[dict[str, Any]] = SMALL


class TestDiscrete(HeadConformance):
    head = "discrete"
    action_head: ClassVar[dict[str, Any]] = {**SMALL, "bins": 16}


class TestFlow(HeadConformance):
    head = "flow"
    action_head: ClassVar[dict[str, Any]] = {**SMALL, "num_inference_steps": 4}
