"""What a backbone is told about the sequence it reads (plugin API 1.2): where its images sit.

A prompt is built knowing how many tokens its image becomes (:class:`ImageLayout`), and the
language model's pass knows, per position, which image a token holds (``image_index``: the image's
number in the sequence, frame by frame and camera by camera, or -1 for text and action tokens). A
VLM with positions of its own (Qwen2-VL's 3-D M-RoPE) computes them from these two.

Plugins written against 1.0 receive none of it: the new arguments go only to a ``prompt`` or
``forward_text`` whose signature names them (:func:`accepts`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import torch

#: ``image_index`` of positions that hold no image token
NO_IMAGE = -1


@dataclass(frozen=True)
class ImageLayout:
    """How one processed image of ``height`` x ``width`` pixels enters the sequence.

    ``tokens`` is its number of placeholders, None where the backbone's prompt knows it without
    the image (a fixed resolution); ``grid`` is the ``(rows, columns)`` those tokens form, for a
    VLM whose positions follow the image's 2-D layout.
    """

    height: int
    width: int
    tokens: int | None = None
    grid: tuple[int, int] | None = None


@cache
def _parameters(function: Callable[..., object]) -> frozenset[str]:
    return frozenset(inspect.signature(function).parameters)


def accepts(method: Callable[..., object], name: str) -> bool:
    """Whether ``method`` names the parameter ``name`` (a ``**kwargs`` does not count: a 1.0 plugin may
    forward its keyword arguments to transformers, which would refuse unknown ones)."""
    return name in _parameters(getattr(method, "__func__", method))


def image_runs(image_index: torch.Tensor) -> list[tuple[int, int]]:
    """One row's ``image_index`` as runs ``(image or -1, length)``: each image's block, each stretch of text."""
    values, counts = torch.unique_consecutive(image_index, return_counts=True)
    return list(zip(values.tolist(), counts.tolist(), strict=True))


def image_index_of(slots: torch.Tensor, image: int | torch.Tensor = 0) -> torch.Tensor:
    """``image_index`` of a prompt: ``image`` where ``slots`` marks image placeholders, else -1."""
    image = torch.as_tensor(image, device=slots.device)
    return torch.where(slots, image, torch.full_like(slots, NO_IMAGE, dtype=torch.long))
