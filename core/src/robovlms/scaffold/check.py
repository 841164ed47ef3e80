"""Running a generated backbone once before it is written, as its tests will.

The generator's facts about a class are guesses from its config and signatures; this module settles
them. The rendered package is imported from a scratch folder, its ``tiny`` preset built through the
backbone contract, and robovlms's hidden states compared with the VLM's own forward (the fidelity
test of the conformance suite), at two resolutions; the ``full`` preset is built on the meta device.
A failure is a :class:`NotThePattern` that names the step, and the generator writes stubs instead.
"""

from __future__ import annotations

import importlib
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from robovlms.errors import first_line
from robovlms.scaffold.hf import RESIZED, NotThePattern

#: what the generated tests assert of the presets' sizes
TINY_PARAMETERS = 1_000_000
FULL_PARAMETERS = 100_000_000
FIDELITY_ATOL = 1e-4
#: how a failure to build the tiny backbone begins (the generator then tries images per sample)
TINY_FAILS = "building the tiny preset fails"
#: how a failure to build the full preset begins (the generator then asks whether transformers' defaults build)
FULL_FAILS = "building the full preset fails"


@contextmanager
def imported(rendered: dict[str, str], package: str) -> Iterator[Callable[[str], Any]]:
    """The rendered ``src/`` importable for a moment; yields a function that imports a submodule."""
    with tempfile.TemporaryDirectory(prefix="robovlms-scaffold-") as scratch:
        for path, text in rendered.items():
            if path.startswith("src/"):
                target = Path(scratch, path)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
        src = str(Path(scratch, "src"))
        sys.path.insert(0, src)
        try:
            yield lambda module: importlib.import_module(f"{package}.{module}")
        finally:
            sys.path.remove(src)
            for name in [n for n in sys.modules if n == package or n.startswith(f"{package}.")]:
                del sys.modules[name]
            importlib.invalidate_caches()


def _step(what: str, run: Callable[[], Any]) -> Any:
    try:
        return run()
    except NotThePattern:
        raise
    except Exception as exc:
        raise NotThePattern(f"{what} fails: {first_line(exc, with_type=True)}") from None


def run_backbone(backbone: type[Any]) -> bool:
    """The generated backbone's tiny and full presets through what its tests check; whether a higher
    resolution gives more image tokens (not for a resampler, whose count is fixed)."""
    import numpy as np
    import torch

    from robovlms.config import VLMConfig

    hf_name = backbone.model_class.__name__
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        robovlm = _step(
            TINY_FAILS.removesuffix(" fails"), lambda: backbone.from_config(VLMConfig(preset="tiny")).eval()
        )
    _step("the contract check", robovlm.validate_attributes)
    frames = np.random.default_rng(0).integers(0, 256, size=(2, 40, 56, 3), dtype=np.uint8)
    pixels = _step("the image processor", lambda: robovlm.image_processor(frames))
    size = (int(pixels.shape[-2]), int(pixels.shape[-1]))
    prompts = _step("the prompt", lambda: robovlm.prompts_for(["pick up the red block", "push it"], size))
    with torch.no_grad():
        ours = _step("robovlms's forward over the contract", lambda: robovlm(pixels, **prompts))
        theirs = _step(f"{hf_name}'s own forward", lambda: robovlm.reference_forward(pixels, **prompts))
    valid = prompts["attention_mask"].bool()
    if ours.shape != theirs.shape or not torch.allclose(ours[valid], theirs[valid], atol=FIDELITY_ATOL, rtol=0):
        gap = (ours[valid] - theirs[valid]).abs().max().item() if ours.shape == theirs.shape else "shapes differ"
        raise NotThePattern(
            f"robovlms's hidden states differ from {hf_name}'s own forward ({gap}): its forward does more than "
            "put image tokens at the placeholders (its own position ids or attention); write forward_text"
        )
    parameters = sum(p.numel() for p in robovlm.model.parameters())
    if parameters >= TINY_PARAMETERS:
        raise NotThePattern(f"the tiny preset still has {parameters:,} parameters; shrink what it keeps large")
    resized = _step(
        f"the tiny preset at image_size {RESIZED}",
        lambda: backbone.from_config(VLMConfig(preset="tiny", image_size=RESIZED)),
    )
    if resized.image_processor.size != RESIZED or _placeholders(resized) < _placeholders(robovlm):
        raise NotThePattern(f"vlm.image_size {RESIZED} does not give that resolution and at least as many tokens")
    with torch.device("meta"):  # shapes only: the full architecture needs no memory here
        full = _step(
            FULL_FAILS.removesuffix(" fails"), lambda: backbone.model_class(backbone.preset_config("full", None))
        )
    if sum(p.numel() for p in full.parameters()) <= FULL_PARAMETERS:
        raise NotThePattern("the full preset (transformers' defaults) has fewer than 100M parameters")
    return bool(_placeholders(resized) > _placeholders(robovlm))


def _placeholders(robovlm: Any) -> int:
    """Image placeholders in a prompt for a square frame of the backbone's size, as its tests count them (with
    cross-attention, the image tokens)."""
    if robovlm.fusion == "cross_attention":
        import torch

        size = robovlm.image_processor.size
        return int(robovlm.encode_images(torch.zeros(1, 3, size, size)).shape[1])
    return int(robovlm.image_slots(robovlm.tokenize(["pick up the red block"])["input_ids"]).sum())
