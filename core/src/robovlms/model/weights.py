"""Where a backbone's weights come from: a checkpoint (hub id or directory) or a named preset.

Shared by every backbone plugin so that all of them refuse the same bad inputs with the same
one-line errors: a missing or corrupt directory, a checkpoint of another architecture, weights
that do not cover the model, and remote code the config did not allow. It knows transformers, not
the backbone contract: :meth:`robovlms.BaseRoboVLM.from_config` hands it the class to load.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import torch
from torch import nn

from robovlms.config import VLMConfig
from robovlms.errors import CheckpointError, ConfigError, first_line
from robovlms.model.images import ImageProcessor

#: presets are random but reproducible: the same preset always starts from the same weights
PRESET_SEED = 0
#: how a user allows a checkpoint's own code: in a config, or as the caller of a saved VLA
REMOTE_CODE_HINT = (
    "allow it only if you trust it: vlm.trust_remote_code in a config, or for a saved VLA "
    "--trust-remote-code, VLA.from_pretrained(..., trust_remote_code=True) or ROBOVLMS_TRUST_REMOTE_CODE=1"
)


def random_model(model_class: Any, hf_config: Any) -> nn.Module:
    """``model_class`` built from ``hf_config`` with weights drawn from :data:`PRESET_SEED`."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(PRESET_SEED)
        model = model_class(hf_config)
        _draw_zero_matrices(model, hf_config)
    return model.eval()


#: a weight matrix no larger than this everywhere passes nothing on
NEGLIGIBLE = 1e-6


def _draw_zero_matrices(model: nn.Module, hf_config: Any) -> None:
    """Weight matrices the architecture starts at zero (or as good as), drawn at random like the others.

    Some VLMs zero-initialise a projection that training fills (Gemma 3's image projection), or draw
    a whole encoder at a standard deviation of 1e-10 (BLIP-2's vision model): at random weights such
    a model never sees its images, which no checkpoint of it does. Biases and gates (vectors,
    scalars) keep their init.
    """
    std = getattr(hf_config.get_text_config(), "initializer_range", None) or 0.02
    with torch.no_grad():
        for parameter in model.parameters():
            # meta tensors (shapes only, as the memory benchmark builds them) have no values to look at
            if parameter.ndim >= 2 and not parameter.is_meta and parameter.abs().max() < NEGLIGIBLE:
                parameter.normal_(0.0, std)


def class_for(model_classes: tuple[Any, ...], hf_config: Any) -> Any:
    """The one of ``model_classes`` whose config class ``hf_config`` is, or None."""
    return next((c for c in model_classes if isinstance(hf_config, c.config_class)), None)


def _looks_local(source: str) -> bool:
    return source.startswith((".", "/", "~")) or Path(source).expanduser().exists()


#: seconds to wait for the hub before saying it cannot be reached (transformers retries for minutes)
HUB_TIMEOUT = 5.0


def _check_hub(source: str, where: str) -> None:
    """A hub id must be in the local cache or the hub reachable, or a one-line error says what to do."""
    from huggingface_hub import constants, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(source, "config.json"), str):
        return  # cached: transformers loads it without the network
    endpoint = urlsplit(constants.ENDPOINT)
    advice = "download it where there is a network and set vlm.model_name to that local folder"
    if constants.HF_HUB_OFFLINE:
        raise CheckpointError(f"{where}: not in the local cache and HF_HUB_OFFLINE is set; {advice}")
    try:
        port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
        socket.create_connection((endpoint.hostname or "", port), timeout=HUB_TIMEOUT).close()
    except OSError as exc:
        raise CheckpointError(
            f"{where}: not in the local cache, and the hub at {constants.ENDPOINT} cannot be reached "
            f"({exc.strerror or exc}); {advice}"
        ) from None


def from_checkpoint(model_classes: tuple[Any, ...], vlm: VLMConfig, backbone: str) -> tuple[nn.Module, Any, Any]:
    """The model, tokenizer and transformers image processor that ``vlm.model_name`` holds.

    ``backbone`` names the backbone in messages; the checkpoint must be of one of
    ``model_classes``' own architectures, since transformers would load another one with random weights.
    """
    from transformers import AutoConfig, AutoImageProcessor, AutoTokenizer

    assert vlm.model_name is not None
    source, remote = vlm.model_name, vlm.trust_remote_code
    where = f"vlm.model_name {source!r}"
    if _looks_local(source):
        path = Path(source).expanduser()
        if not path.is_dir():
            raise CheckpointError(f"{where}: no such directory")
        if not (path / "config.json").is_file():
            raise CheckpointError(f"{where}: the directory has no config.json; is it a saved transformers model?")
        source = str(path)
    else:
        _check_hub(source, where)
    try:
        hf_config = AutoConfig.from_pretrained(source, trust_remote_code=remote)
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise CheckpointError(f"{where}: the checkpoint needs its own Python code; {REMOTE_CODE_HINT}") from None
        raise CheckpointError(f"{where}: unreadable config ({first_line(exc)})") from None
    except Exception as exc:  # missing files (OSError), and whatever a trusted checkpoint's own code raises
        raise CheckpointError(f"{where}: cannot load its config ({first_line(exc, with_type=True)})") from None
    if getattr(hf_config, "auto_map", None) and not remote:
        # transformers silently uses its built-in class when it knows the model_type: refuse instead
        raise CheckpointError(f"{where}: the checkpoint needs its own Python code; {REMOTE_CODE_HINT}")
    model_class = class_for(model_classes, hf_config)
    if model_class is None:
        expected = " or ".join(repr(c.config_class.model_type) for c in model_classes)
        raise CheckpointError(
            f"{where} holds a {getattr(hf_config, 'model_type', '?')!r} model, but backbone {backbone!r} "
            f"needs a {expected} checkpoint"
        )
    if Path(source).is_dir() and not any(Path(source).glob("*.safetensors")):
        pickled = sorted(p.name for p in Path(source).glob("*.bin"))
        found = f"it holds {', '.join(pickled)} (pickle), which robovlms never loads" if pickled else "none found"
        raise CheckpointError(
            f"{where}: no safetensors weights ({found}); convert them with save_pretrained(safe_serialization=True)"
        )
    try:
        # safetensors only: transformers would otherwise fall back to unpickling pytorch_model.bin
        model, info = model_class.from_pretrained(
            source, config=hf_config, trust_remote_code=remote, output_loading_info=True, use_safetensors=True
        )
    except Exception as exc:  # transformers and safetensors raise many types for unreadable weights
        raise CheckpointError(f"{where}: cannot load the weights ({first_line(exc)})") from None
    missing = info.get("missing_keys") or []
    if missing:
        raise CheckpointError(
            f"{where}: the weights lack {len(missing)} tensors the model needs (e.g. {sorted(missing)[0]})"
        )
    model.eval()
    tokenizer = _load_part(AutoTokenizer, source, remote, where, "tokenizer")
    processor = _load_part(AutoImageProcessor, source, remote, where, "image processor")
    resizing = ImageProcessor.from_transformers(processor)
    size = resizing.size
    if vlm.image_size is not None and resizing.pixel_budget is not None:
        low, high = resizing.pixel_budget
        raise ConfigError(
            f"vlm.image_size: {source}'s processor resizes each frame within a pixel budget ({low} to {high} "
            "pixels), not to a fixed size; remove vlm.image_size"
        )
    if vlm.image_size is not None and vlm.image_size != size:
        raise ConfigError(
            f"vlm.image_size is {vlm.image_size} but {source} was trained at {size}; "
            "remove vlm.image_size or set it to the checkpoint's size"
        )
    return model, tokenizer, processor


def _load_part(auto: Any, source: str, remote: bool, where: str, what: str) -> Any:
    try:
        return auto.from_pretrained(source, trust_remote_code=remote)
    except Exception as exc:  # missing files surface as OSError, ValueError or KeyError
        raise CheckpointError(f"{where}: cannot load its {what} ({first_line(exc)})") from None
