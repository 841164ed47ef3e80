"""Which order a grid class's image processor gives its flat patches, settled by running it.

A grid class (:class:`robovlms.model.grid.GridBackbone`) cuts frames into patches itself, in torch, so
that frames of any size need no round trip through numpy; the order must be the processor's, or a
checkpoint's encoder reads scrambled patches while the fidelity test (which compares robovlms with
the VLM fed robovlms's own patches) cannot tell. So the generator feeds one random frame to the
processor's own ``patchify`` and to each layout robovlms knows, and names the one that agrees.
"""

from __future__ import annotations

from typing import Any

from robovlms.errors import first_line

#: the layouts :class:`GridBackbone` knows, in the order they are tried
LAYOUTS = ("merged", "merged_hwc", "rows_flat", "rows")


def patch_layout(processor_class: str, vision: Any, merge: int) -> str:
    """The :attr:`GridBackbone.patch_layout` whose patches equal ``processor_class``'s for ``vision`` and
    ``merge`` patches per side to a token; a
    ValueError that says what to write where none does."""
    import numpy as np
    import torch
    import transformers

    from robovlms.model.grid import GridBackbone

    patch = vision.patch_size
    temporal = getattr(vision, "temporal_patch_size", None) or 1
    frame = np.random.default_rng(0).standard_normal((3, 2 * patch * merge, 3 * patch * merge)).astype(np.float32)
    try:
        processor = getattr(transformers, processor_class)()
        theirs = np.asarray(processor.patchify(frame, patch, merge, temporal)[0])
    except Exception as exc:
        raise ValueError(
            f"{processor_class}.patchify does not run as Qwen-VL's does ({first_line(exc, with_type=True)}): "
            "write patchify for its patch order"
        ) from None
    probe = type("Probe", (), {"_vision": vision, "merge_size": merge})
    for layout in LAYOUTS:
        probe.patch_layout = layout  # type: ignore[attr-defined]
        ours = GridBackbone.patchify(probe, torch.from_numpy(frame)[None])  # type: ignore[arg-type]
        if tuple(ours.shape) == theirs.shape and np.allclose(ours.numpy(), theirs):
            return layout
    raise ValueError(
        f"{processor_class}.patchify lays out patches {theirs.shape} in an order robovlms does not know "
        f"(it knows {', '.join(LAYOUTS)}): write patchify for it"
    )
