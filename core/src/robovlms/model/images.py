"""Camera frames to normalized pixels, in torch alone (torchvision is not required).

A backbone's ``image_processor`` is an :class:`ImageProcessor` configured with its checkpoint's
own resizing rule, mean and std, so frames from a robot look to the VLM as they did in pretraining.
Three rules cover the transformers processors: a fixed size (SigLIP), the shortest edge then a
center crop (CLIP), and a pixel budget (Qwen2-VL's ``min_pixels``/``max_pixels``: each side rounded
to a multiple of the patch grid, the area kept in the budget, so the number of image tokens follows
the frame's own size). A fourth, the longest edge then padding (Aria's ``max_image_size``), keeps the
aspect ratio: the frame comes out at its resized size, and :meth:`ImageProcessor.pad` pads it to the
square with the mask of its pixels, so the mask travels with the pixels' shape. A pixel budget may
pad too (GLM-5 Next's token budget): the frame, resized keeping its aspect ratio, is padded with black up
to a canvas of whole grid cells, with no mask.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from robovlms.errors import CheckpointError, InputError

ResizeRule = Literal["fixed", "shortest_edge", "pixel_budget", "pixel_budget_pad", "longest_edge_pad"]


class ImageProcessor:
    """Resize by the checkpoint's rule (:attr:`rule`), rescale, normalize.

    ``size`` is the side of the square a square frame becomes; with a pixel budget, the largest
    such square within ``max_pixels`` (other frames keep their aspect ratio, see :meth:`output_size`).
    """

    def __init__(
        self,
        size: int,
        mean: Sequence[float] | float,
        std: Sequence[float] | float,
        *,
        resample: str = "bicubic",
        center_crop: bool = False,
        pixel_budget: tuple[int, int] | None = None,
        factor: int = 1,
        rescale: float = 1 / 255,
        pad_min_side: int | None = None,
        pad_to_budget: bool = False,
    ) -> None:
        # one value for all channels (Fuyu's processor keeps a scalar mean and std)
        mean, std = ([float(v)] * 3 if isinstance(v, (int, float)) else v for v in (mean, std))
        if len(mean) != 3 or len(std) != 3:
            raise ValueError("image mean and std need three values, one per RGB channel")
        self.size = int(size)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.resample = resample
        self.center_crop = center_crop
        #: ``(min_pixels, max_pixels)`` of the pixel-budget rule, else None
        self.pixel_budget = pixel_budget
        #: every output side is a multiple of it (patch size times merge size under a pixel budget)
        self.factor = int(factor)
        #: what a pixel value is multiplied by before normalising: 1/255 for most checkpoints, Chameleon's 1/128
        #: (its mean and std 1 then map pixels to [-1, 1])
        self.rescale = float(rescale)
        #: the longest-edge-and-pad rule's floor for the shorter side (Aria's ``min_image_size``), else None
        self.pad_min_side = pad_min_side
        #: whether the pixel budget pads: the frame keeps its aspect ratio inside a canvas of whole grid cells
        self.pad_to_budget = pad_to_budget

    @property
    def rule(self) -> ResizeRule:
        """Which of the three resizing rules this processor follows."""
        if self.pixel_budget is not None:
            return "pixel_budget_pad" if self.pad_to_budget else "pixel_budget"
        if self.pad_min_side is not None:
            return "longest_edge_pad"
        return "shortest_edge" if self.center_crop else "fixed"

    def __repr__(self) -> str:
        crop = ", center_crop=True" if self.center_crop else ""
        budget = f", pixel_budget={self.pixel_budget}, factor={self.factor}" if self.pixel_budget else ""
        budget += ", pad_to_budget=True" if self.pad_to_budget else ""
        rescale = f", rescale={self.rescale}" if self.rescale != 1 / 255 else ""
        pad = f", pad_min_side={self.pad_min_side}" if self.pad_min_side is not None else ""
        return (
            f"ImageProcessor(size={self.size}, mean={self.mean}, std={self.std}, "
            f"resample={self.resample!r}{crop}{budget}{rescale}{pad})"
        )

    @classmethod
    def within_budget(
        cls, min_pixels: int, max_pixels: int, factor: int, mean: Sequence[float], std: Sequence[float]
    ) -> ImageProcessor:
        """A pixel-budget processor; ``size`` is the largest square side in ``max_pixels``."""
        side = max(factor, math.isqrt(max_pixels) // factor * factor)
        return cls(side, mean, std, pixel_budget=(min_pixels, max_pixels), factor=factor)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """The ``(height, width)`` a frame of this size is given to the VLM at (before :meth:`pad`)."""
        if self.pad_min_side is not None:
            return longest_edge_size(height, width, self.size, self.pad_min_side)
        if self.pixel_budget is None:
            return self.size, self.size
        if self.pad_to_budget:
            return padded_budget_size(height, width, self.factor, *self.pixel_budget)[0]
        return budget_size(height, width, self.factor, *self.pixel_budget)

    @classmethod
    def from_transformers(cls, processor: Any) -> ImageProcessor:
        """Read the resizing rule, mean, std and resampling from a transformers (image) processor.

        A processor with a ``merge_size`` and a ``longest_edge`` (Qwen2-VL's) keeps a pixel budget:
        there ``size["shortest_edge"]`` is ``min_pixels``, an area, not a side. One with a ``spatial_factor``
        and ``max_pixels`` (Emu3's) keeps a budget too, each side a multiple of that factor. Pixels are
        rescaled by the processor's ``rescale_factor`` (Chameleon's is 1/128, not 1/255). One with an integer
        ``max_image_size`` (Aria's) resizes the longer side to it and pads the rest (``pad_min_side``).
        """
        ip = getattr(processor, "image_processor", processor)
        made = cls._token_budget(ip) or cls._rule_from_transformers(ip)
        if getattr(ip, "do_rescale", True) is False:
            made.rescale = 1.0
        elif getattr(ip, "rescale_factor", None):
            made.rescale = float(ip.rescale_factor)
        return made

    @classmethod
    def _token_budget(cls, ip: Any) -> ImageProcessor | None:
        """GLM-5 Next's rule, where ``ip`` keeps a budget of image tokens (``min_image_tokens``,
        ``max_image_tokens``; its ``size`` is a placeholder): a padded pixel budget of as many grid cells."""
        low, high = (getattr(ip, key, None) for key in ("min_image_tokens", "max_image_tokens"))
        if not (isinstance(low, int) and isinstance(high, int) and getattr(ip, "merge_size", None)):
            return None
        factor = int(ip.patch_size) * int(ip.merge_size)
        made = cls.within_budget(low * factor**2, high * factor**2, factor, ip.image_mean, ip.image_std)
        made.pad_to_budget = True
        return made

    @classmethod
    def _rule_from_transformers(cls, ip: Any) -> ImageProcessor:
        size = getattr(ip, "size", None) or {}
        if getattr(ip, "merge_size", None) and "longest_edge" in size:
            factor = int(ip.patch_size) * int(ip.merge_size)
            return cls.within_budget(size["shortest_edge"], size["longest_edge"], factor, ip.image_mean, ip.image_std)
        if getattr(ip, "spatial_factor", None) and "max_pixels" in size:  # Emu3's: the factor is the VQ model's
            factor = int(ip.spatial_factor)
            return cls.within_budget(size["min_pixels"], size["max_pixels"], factor, ip.image_mean, ip.image_std)
        if isinstance(getattr(ip, "max_image_size", None), int):  # Aria's: the longer side, the rest padded
            if getattr(ip, "split_image", False):
                raise CheckpointError(
                    f"{type(ip).__name__}: split_image=True (crops of a large image) is not supported; "
                    "set split_image to false in preprocessor_config.json"
                )
            return cls(ip.max_image_size, ip.image_mean, ip.image_std, pad_min_side=int(ip.min_image_size))
        crop = ip.crop_size if getattr(ip, "do_center_crop", False) else None
        size = crop or getattr(ip, "size", None) or {"height": ip.image_size}
        # PIL's enum when built, its number (BILINEAR is 2) when loaded from preprocessor_config.json
        resample = getattr(ip, "resample", None)
        bilinear = str(getattr(resample, "name", "")).lower() == "bilinear" or resample == 2
        return cls(
            size.get("height") or size["shortest_edge"],
            ip.image_mean,
            ip.image_std,
            resample="bilinear" if bilinear else "bicubic",
            center_crop=crop is not None,
        )

    def __call__(self, frames: Any) -> torch.Tensor:
        """``(H, W, 3)`` or ``(B, H, W, 3)`` uint8 frames to a ``(B, 3, *output_size(H, W))`` float tensor."""
        pixels = _as_uint8_batch(frames)
        x = pixels.permute(0, 3, 1, 2).float()
        h, w = x.shape[-2:]
        if self.pad_to_budget:  # the frame's size inside the canvas it is padded to
            canvas, new_hw = padded_budget_size(h, w, self.factor, *self.pixel_budget)  # type: ignore[misc]
        else:
            if self.pixel_budget is not None or self.pad_min_side is not None:
                new_hw = self.output_size(h, w)
            elif self.center_crop:
                scale = self.size / min(h, w)
                new_hw = (max(self.size, int(h * scale)), max(self.size, int(w * scale)))  # as transformers
            else:
                new_hw = (self.size, self.size)
            canvas = new_hw
        if (h, w) != new_hw:
            x = F.interpolate(x, size=new_hw, mode=self.resample, align_corners=False, antialias=True)
        if canvas != new_hw:  # black below and to the right, as transformers pads before it normalises
            x = F.pad(x, (0, canvas[1] - new_hw[1], 0, canvas[0] - new_hw[0]))
        if self.center_crop:
            top, left = (new_hw[0] - self.size) // 2, (new_hw[1] - self.size) // 2
            x = x[..., top : top + self.size, left : left + self.size]
        x = x.clamp(0, 255) * self.rescale
        return (x - per_channel(self.mean, x)) / per_channel(self.std, x)

    def pad(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Processed frames ``(B, 3, h, w)`` padded at the bottom and right to the ``size`` square, and the
        ``(B, size, size)`` mask of their own pixels (Aria's ``pixel_mask``).

        The padding is what a black pixel becomes, as in transformers, which pads before it rescales and
        normalises.
        """
        height, width = pixels.shape[-2:]
        if pixels.ndim != 4 or height > self.size or width > self.size:
            raise InputError(
                f"pixels: expected (batch, 3, h, w) with sides at most {self.size}, got {tuple(pixels.shape)}"
            )
        black = -per_channel(self.mean, pixels) / per_channel(self.std, pixels)
        padded = black.expand(pixels.shape[0], 3, self.size, self.size).clone()
        padded[..., :height, :width] = pixels
        mask = torch.zeros(pixels.shape[0], self.size, self.size, dtype=torch.bool, device=pixels.device)
        mask[:, :height, :width] = True
        return padded, mask


def per_channel(values: Sequence[float], like: torch.Tensor) -> torch.Tensor:
    """One value per RGB channel (a mean, a std) as ``(1, 3, 1, 1)``, in ``like``'s dtype and on its device, so it
    broadcasts over ``(B, 3, H, W)`` pixels."""
    return torch.tensor(values, dtype=like.dtype, device=like.device).view(1, 3, 1, 1)


def longest_edge_size(height: int, width: int, side: int, min_side: int) -> tuple[int, int]:
    """Aria's resize: the longer side to ``side``, the shorter one in proportion but at least ``min_side``."""
    scale = side / max(height, width)
    if width >= height:
        return max(int(height * scale), min_side), side
    return side, max(int(width * scale), min_side)


def budget_size(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """Qwen2-VL's ``smart_resize``: sides rounded to multiples of ``factor``, area within the budget."""
    if max(height, width) / min(height, width) > 200:
        raise InputError(f"image: {height}x{width} is too elongated; the aspect ratio must be under 200")
    h, w = round(height / factor) * factor, round(width / factor) * factor
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h, w = math.ceil(height * beta / factor) * factor, math.ceil(width * beta / factor) * factor
    return h, w


def padded_budget_size(
    height: int, width: int, factor: int, min_pixels: int, max_pixels: int
) -> tuple[tuple[int, int], tuple[int, int]]:
    """GLM-5 Next's resize: the canvas (sides multiples of ``factor``, area within the budget) and the
    frame's size in it (its aspect ratio kept, not enlarged where it already has ``min_pixels``)."""

    def align(value: int) -> int:
        return math.ceil(value / factor) * factor

    canvas = align(height), align(width)
    if canvas[0] * canvas[1] < min_pixels:
        scale = math.sqrt(min_pixels / (height * width))
        canvas = align(max(1, math.ceil(height * scale))), align(max(1, math.ceil(width * scale)))
    if canvas[0] * canvas[1] > max_pixels:  # the tallest content whose aligned canvas fits, by bisection
        low, high, canvas = 1, height, (factor, factor)
        while low <= high:
            middle = (low + high) // 2
            candidate = align(middle), align(max(1, math.floor(width * middle / height)))
            if candidate[0] * candidate[1] <= max_pixels:
                canvas, low = candidate, middle + 1
            else:
                high = middle - 1
    scale = min(canvas[0] / height, canvas[1] / width)
    if height * width >= min_pixels:
        scale = min(1.0, scale)
    content = max(1, min(canvas[0], math.floor(height * scale))), max(1, min(canvas[1], math.floor(width * scale)))
    return canvas, content


def hwc_patches(pixel_values: torch.Tensor, patch: int) -> torch.Tensor:
    """``(B, C, H, W)`` frames as ``(B, P, patch * patch * C)`` square patches, row by row, each patch its rows,
    columns, then channels: the layout the processors of Fuyu, Pix2Struct, Gemma 4 and Inkling 2 cut.

    Pixels past the last whole patch (a side not a multiple of ``patch``) are left out, as an unfold leaves them.
    """
    batch, channels, height, width = pixel_values.shape
    rows, columns = height // patch, width // patch
    whole = pixel_values[..., : rows * patch, : columns * patch]
    patches = whole.reshape(batch, channels, rows, patch, columns, patch).permute(0, 2, 4, 3, 5, 1)
    return patches.reshape(batch, rows * columns, patch * patch * channels)


def _as_uint8_batch(frames: Any) -> torch.Tensor:
    if isinstance(frames, np.ndarray):
        if frames.dtype != np.uint8:
            raise InputError(f"image: expected dtype uint8, got {frames.dtype}")
        tensor = torch.from_numpy(np.ascontiguousarray(frames))
    elif isinstance(frames, torch.Tensor):
        if frames.dtype != torch.uint8:
            raise InputError(f"image: expected dtype uint8, got {frames.dtype}")
        tensor = frames
    else:
        raise InputError(f"image: expected a uint8 numpy array or torch tensor, got {type(frames).__name__}")
    if tensor.ndim == 3:
        tensor = tensor.unsqueeze(0)
    if tensor.ndim != 4 or tensor.shape[-1] != 3 or tensor.shape[1] < 1 or tensor.shape[2] < 1:
        raise InputError(f"image: expected shape (H, W, 3) or (B, H, W, 3), got {tuple(tensor.shape)}")
    return tensor
