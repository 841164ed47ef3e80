"""The backbone contract: what a VLM plugin writes to become a robovlms backbone.

A backbone wraps one ``transformers`` VLM and exposes it through the six attributes of the
RoboVLMs tutorial (``image_processor``, ``hidden_size``, ``word_embedding``, ``text_tower``,
``vision_tower``, ``model``) plus ``model_encode_images``. Everything the VLA needs on top
(image tokens, text embeddings, a language-model pass over any sequence of embeddings) is built
here from those attributes, so a plugin writes only what differs between VLMs.

Two fusion patterns are first-class. ``fusion = "tokens"`` (PaliGemma, LLaVA): image tokens are
placed into the token sequence. ``fusion = "cross_attention"`` (Flamingo/Idefics): image tokens
stay out of the sequence and reach the language model through ``forward_text(image_tokens=...)``.
The VLA branches on this attribute only, never on a plugin's name.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypedDict

import torch
from torch import nn
from typing_extensions import Self

from robovlms.config import TrainingConfig, VLMConfig
from robovlms.errors import ConfigError, PluginError, first_line
from robovlms.model import weights
from robovlms.model.images import ImageProcessor
from robovlms.model.sequence import ImageLayout, accepts, image_index_of
from robovlms.plugins.kinds import BACKBONE, Component, ComponentKind
from robovlms.plugins.loading import manager

if TYPE_CHECKING:
    from transformers import PretrainedConfig

Fusion = Literal["tokens", "cross_attention"]


class EncodedPrompt(TypedDict):
    """Prompts as the language model reads them: left-padded ids and their attention mask, ``(B, L)``."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor


class BaseRoboVLM(Component, nn.Module):
    """A transformers VLM seen through the RoboVLMs backbone attributes.

    Subclasses set ``name`` (the entry-point name), ``model_class`` (the transformers class),
    ``fusion`` and ``configuration`` (the module of presets), and implement ``prompt``; the towers
    default to the LLaVA layout of transformers 5 (``model.model.language_model`` and
    ``model.model.vision_tower``). Build one with :meth:`from_config`, which loads weights from
    ``vlm.model_name`` or builds ``vlm.preset``.
    """

    kind: ClassVar[ComponentKind] = BACKBONE
    fusion: ClassVar[Fusion] = "tokens"
    model_class: ClassVar[type]
    #: further transformers classes the same backbone wraps (Qwen2.5-VL beside Qwen2-VL); a
    #: checkpoint's or preset's config class picks which one is built
    also_wraps: ClassVar[tuple[type, ...]] = ()
    presets: ClassVar[tuple[str, ...]] = ("tiny", "full")
    #: whether the tokenizer adds its own special tokens (BOS) around ``prompt()``, as the VLM's processor does
    add_special_tokens: ClassVar[bool] = False

    def __init__(self, model: nn.Module, tokenizer: Any, processor: Any, config: VLMConfig) -> None:
        """``processor`` is the checkpoint's transformers image processor; it is saved with the model,
        and robovlms's own :class:`ImageProcessor` (``image_processor``) is configured from it."""
        super().__init__()
        #: the wrapped transformers VLM (Any: each VLM class has attributes of its own)
        self.model: Any = model
        self.tokenizer = tokenizer
        #: the checkpoint's transformers image processor, kept to be saved beside the weights
        self.transformers_processor = processor
        self._image_processor = ImageProcessor.from_transformers(processor)
        self.vlm_config = config

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: VLMConfig) -> Self:
        """Load ``config.model_name`` with ``from_pretrained``, or build ``config.preset`` at random."""
        if config.preset is not None:
            if config.preset not in cls.presets:
                raise ConfigError(
                    f"vlm.preset: backbone {cls.name!r} has no preset {config.preset!r}; "
                    f"available: {', '.join(cls.presets)}"
                )
            hf_config = cls.preset_config(config.preset, config.image_size)
            model = weights.random_model(
                weights.class_for(cls.wrapped_classes(), hf_config) or cls.model_class, hf_config
            )
            return cls(model, cls.preset_tokenizer(hf_config), cls.preset_image_processor(hf_config), config)
        if config.model_name is not None:
            return cls(*weights.from_checkpoint(cls.wrapped_classes(), config, cls.name), config)
        raise ConfigError(
            f"vlm: set vlm.model_name (a hub id or local directory) or vlm.preset (one of: {', '.join(cls.presets)})"
        )

    @classmethod
    def wrapped_classes(cls) -> tuple[type, ...]:
        """The transformers classes this backbone wraps: ``model_class``, then ``also_wraps``."""
        return (cls.model_class, *cls.also_wraps)

    # A plugin keeps its presets in a ``configuration_<name>.py`` module (the LeRobot layout) and
    # names it here; the three functions below read from it unless a subclass overrides them.
    configuration: ClassVar[ModuleType]

    @classmethod
    def preset_config(cls, preset: str, image_size: int | None) -> PretrainedConfig:
        """The transformers config of a named architecture (``tiny``, ``full``, ...)."""
        return cls.configuration.preset_config(preset, image_size)

    @classmethod
    def preset_tokenizer(cls, config: PretrainedConfig) -> Any:
        """A tokenizer for a preset, built locally (see :func:`robovlms.tokenization.local_tokenizer`)."""
        return cls.configuration.preset_tokenizer(config)

    @classmethod
    def preset_image_processor(cls, config: PretrainedConfig) -> Any:
        """The transformers image processor of the checkpoint the preset mirrors, at the preset's size."""
        return cls.configuration.preset_image_processor(config)

    def save_pretrained(self, directory: str | Path) -> None:
        """Write model, tokenizer and image processor so that ``vlm.model_name`` can load them back."""
        from transformers.utils import logging

        shown = logging.is_progress_bar_enabled()
        logging.disable_progress_bar()  # a bar per save would flood training logs
        try:
            self.model.save_pretrained(str(directory), state_dict=self._plain_state_dict())
            for part in (self.tokenizer, self.transformers_processor):
                part.save_pretrained(str(directory))
        finally:
            if shown:
                logging.enable_progress_bar()

    # -- the six attributes (defaults cover transformers VLMs; plugins override where they differ)

    @property
    def image_processor(self) -> ImageProcessor:
        return self._image_processor

    @property
    def processor(self) -> Any:
        """Deprecated alias of ``transformers_processor`` (plugin API 1.0)."""
        warnings.warn(
            "BaseRoboVLM.processor is deprecated; use transformers_processor", DeprecationWarning, stacklevel=2
        )
        return self.transformers_processor

    @property
    def hidden_size(self) -> int:
        return self.model.config.get_text_config().hidden_size

    @property
    def word_embedding(self) -> nn.Embedding:
        return self.model.get_input_embeddings()

    @property
    def text_tower(self) -> nn.Module:
        """The language model without its LM head; the default is where transformers 5 keeps it in
        LLaVA-pattern VLMs (PaliGemma, LLaVA and most of the image-text-to-text mapping)."""
        return self._inner("language_model", "text_tower")

    @property
    def vision_tower(self) -> nn.Module:
        """The vision encoder; the default is ``model.model.vision_tower``, as for ``text_tower``."""
        return self._inner("vision_tower", "vision_tower")

    def _inner(self, part: str, attribute: str) -> nn.Module:
        module = getattr(getattr(self.model, "model", None), part, None)
        if not isinstance(module, nn.Module):
            raise NotImplementedError(
                f"{type(self).__name__} must define {attribute}: {type(self.model).__name__} has no model.{part}"
            )
        return module

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Pixels to image tokens in the language model's embedding space (the VLM's own path)."""
        features = self.model.model.get_image_features(pixel_values=pixel_values)
        features = getattr(features, "pooler_output", features)
        return torch.stack(features) if isinstance(features, (list, tuple)) else features

    # -- contract checks -----------------------------------------------------------------------

    _CONTRACT: ClassVar[dict[str, tuple[type | tuple[type, ...], str]]] = {
        "image_processor": (ImageProcessor, "a robovlms.ImageProcessor"),
        "hidden_size": (int, "a positive int"),
        "word_embedding": (nn.Embedding, "a torch.nn.Embedding"),
        "text_tower": (nn.Module, "a torch.nn.Module"),
        "vision_tower": (nn.Module, "a torch.nn.Module"),
        "model": (nn.Module, "a torch.nn.Module"),
    }

    def attribute_problems(self) -> list[str]:
        """Every missing or ill-typed contract attribute, one message each."""
        problems = []
        for attribute, (expected, described) in self._CONTRACT.items():
            try:
                value = getattr(self, attribute)
            except (NotImplementedError, AttributeError) as exc:
                problems.append(f"{attribute} is missing ({exc})")
                continue
            bad_int = expected is int and (isinstance(value, bool) or not isinstance(value, int) or value <= 0)
            if not isinstance(value, expected) or bad_int:
                problems.append(f"{attribute} must be {described}, got {type(value).__name__} {value!r:.40}")
        if not callable(getattr(self, "model_encode_images", None)):
            problems.append("model_encode_images must be a method taking pixel values")
        if self.fusion not in ("tokens", "cross_attention"):
            problems.append(f"fusion must be 'tokens' or 'cross_attention', got {self.fusion!r}")
        return problems

    def validate_attributes(self) -> None:
        """Raise one :class:`PluginError` that lists every contract problem at once."""
        problems = self.attribute_problems()
        if problems:
            raise PluginError(
                f"backbone {self.name!r} ({type(self).__name__}) breaks the contract: " + "; ".join(problems)
            )

    # -- what the VLA calls --------------------------------------------------------------------

    @property
    def image_token_id(self) -> int | Collection[int] | None:
        """Id of the placeholder that marks image positions in the prompt (``tokens`` fusion); since
        plugin API 1.2 it may be several ids. Override it where the config has none under this name."""
        return getattr(self.model.config, "image_token_id", None)

    def image_slots(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Where the prompt holds image placeholders (``tokens`` fusion), as a boolean mask.

        Override it where the ids alone do not say (Kosmos-2: the 64 positions after ``<image>``,
        whose ids are ordinary text ids, as its ``image_embeds_position_mask``).
        """
        token = self.image_token_id
        if token is None:
            raise PluginError(
                f"backbone {self.name!r}: tokens fusion needs image_token_id; its config has none, so define it"
            )
        if isinstance(token, int):
            return input_ids.eq(token)
        return torch.isin(input_ids, torch.tensor(sorted(token), device=input_ids.device))

    def image_layout(self, height: int, width: int) -> ImageLayout:
        """How a processed image of ``height`` x ``width`` pixels enters the sequence (plugin API 1.2).

        The default says nothing more than the size: a fixed-resolution VLM's prompt knows its token
        count. Override it where the count or the grid follows the image (dynamic resolution).
        """
        return ImageLayout(height, width)

    def prompt(self, instruction: str) -> str:
        """The VLM's prompt for ``instruction``, with its image placeholders and special tokens.

        Since plugin API 1.2 a plugin may define ``prompt(self, instruction, image)``: ``image`` is
        the :class:`~robovlms.model.sequence.ImageLayout` of this batch's images, so the number of
        placeholders can follow their size.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement prompt()")

    def tokenize(self, instructions: list[str], image_size: tuple[int, int] | None = None) -> EncodedPrompt:
        """Prompts for a batch of instructions as ``input_ids`` and ``attention_mask``.

        Left-padded, so that tokens appended after the prompt (the VLA's action tokens) sit at the
        same positions in every row. ``vlm.max_length`` bounds each instruction, not the prompt: a
        template's image placeholders (576 for LLaVA-1.5) must never be cut. ``image_size`` is the
        processed images' ``(height, width)``, the square ``image_processor.size`` when None.
        """
        self.tokenizer.padding_side = "left"
        if accepts(self.prompt, "image"):
            height, width = image_size or (self.image_processor.size,) * 2
            layout = self.image_layout(int(height), int(width))
            prompts = [self.prompt(self._clip(text), layout) for text in instructions]  # type: ignore[call-arg]
        else:
            prompts = [self.prompt(self._clip(text)) for text in instructions]
        encoded = self.tokenizer(
            prompts,
            add_special_tokens=self.add_special_tokens,
            padding=True,
            return_tensors="pt",
        )
        device = self.word_embedding.weight.device
        return {"input_ids": encoded["input_ids"].to(device), "attention_mask": encoded["attention_mask"].to(device)}

    def prompts_for(self, instructions: list[str], image_size: tuple[int, int] | None) -> EncodedPrompt:
        """:meth:`tokenize` for images of ``image_size``; a 1.0 plugin's own ``tokenize(instructions)`` as it is."""
        if accepts(self.tokenize, "image_size"):
            return self.tokenize(instructions, image_size)
        return self.tokenize(instructions)

    def _clip(self, instruction: str) -> str:
        ids = self.tokenizer(instruction, add_special_tokens=False)["input_ids"]
        limit = self.vlm_config.max_length
        return instruction if len(ids) <= limit else self.tokenizer.decode(ids[:limit])

    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Image tokens ``(B, N, hidden_size)``: a ``robovlms_encode_images`` hook's, else the plugin's own."""
        tokens = manager().hook.robovlms_encode_images(backbone=self, pixel_values=pixel_values)
        if tokens is None:
            tokens = self.model_encode_images(pixel_values)
        width_ok = self.fusion != "tokens" or (
            isinstance(tokens, torch.Tensor) and tokens.shape[-1] == self.hidden_size
        )
        if (
            not isinstance(tokens, torch.Tensor)
            or tokens.ndim != 3
            or tokens.shape[0] != pixel_values.shape[0]
            or not width_ok
        ):
            shape = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__
            raise PluginError(
                f"backbone {self.name!r}: image encoding returned {shape}; expected (batch, tokens, features)"
                + (f" with features = hidden_size {self.hidden_size}" if self.fusion == "tokens" else "")
            )
        return tokens

    def embed_text(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Token embeddings. Image placeholders may lie outside the vocabulary; their rows are overwritten."""
        if self.fusion == "tokens":
            input_ids = input_ids.masked_fill(self.image_slots(input_ids), 0)
        return self.word_embedding(input_ids)

    def forward_text(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor,
        *,
        image_tokens: torch.Tensor | None = None,
        image_attention_mask: torch.Tensor | None = None,
        prefix_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Final hidden states ``(B, L, hidden_size)`` of the language model over ``inputs_embeds``.

        For cross-attention backbones, ``image_tokens`` ``(B, I, N, D)`` holds ``I`` images per
        sequence and ``image_attention_mask`` ``(B, L, I)`` says which positions see which image.
        For prefix-LM backbones, ``prefix_mask`` ``(B, L)`` marks the positions that attend
        bidirectionally; the rest attend causally. Backbones ignore what does not apply to them.

        Since plugin API 1.2, a ``forward_text`` that names them also receives ``image_index``
        ``(B, L)`` (which image each position holds, numbered in sequence order, -1 for text and
        action tokens) and ``image_layout`` (the images' :class:`ImageLayout`), from which a VLM
        computes positions of its own (M-RoPE); a 1.0 signature is called as before.
        """
        return self.text_tower(inputs_embeds=inputs_embeds, attention_mask=attention_mask).last_hidden_state

    def text_pass(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor,
        *,
        image_index: torch.Tensor,
        image_layout: ImageLayout,
        **rest: Any,
    ) -> torch.Tensor:
        """Call :meth:`forward_text` with the 1.2 arguments its signature names, and the rest."""
        extra: dict[str, Any] = {"image_index": image_index, "image_layout": image_layout}
        named = {key: value for key, value in extra.items() if accepts(self.forward_text, key)}
        return self.forward_text(inputs_embeds, attention_mask, **rest, **named)

    def layout_of(self, pixel_values: torch.Tensor) -> ImageLayout:
        """The :class:`ImageLayout` of a batch of processed images ``(..., 3, H, W)``."""
        return self.image_layout(int(pixel_values.shape[-2]), int(pixel_values.shape[-1]))

    def prompt_image_index(self, input_ids: torch.Tensor, image: int | torch.Tensor = 0) -> torch.Tensor:
        """``image_index`` of prompts: ``image`` at their image placeholders, -1 elsewhere."""
        if self.fusion != "tokens":
            return image_index_of(torch.zeros_like(input_ids, dtype=torch.bool))
        return image_index_of(self.image_slots(input_ids), image)

    def embed_prompt(self, pixel_values: torch.Tensor, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompt embeddings and image tokens; with ``tokens`` fusion the image tokens are already in place."""
        image_tokens = self.encode_images(pixel_values)
        embeds = self.embed_text(input_ids)
        if self.fusion == "tokens":
            embeds = self.place_images(embeds, input_ids, image_tokens)
        return embeds, image_tokens

    def place_images(self, embeds: torch.Tensor, input_ids: torch.Tensor, image_tokens: torch.Tensor) -> torch.Tensor:
        """``embeds`` with ``image_tokens`` ``(B, N, D)`` at the prompt's placeholders (``tokens`` fusion)."""
        slots = self.image_slots(input_ids)
        counts = slots.sum(dim=1)
        if (counts != image_tokens.shape[1]).any():
            raise PluginError(
                f"backbone {self.name!r}: the prompt holds {counts.tolist()} image placeholders per row "
                f"but the image encoder gave {image_tokens.shape[1]} tokens per image"
            )
        return embeds.masked_scatter(slots.unsqueeze(-1), image_tokens.to(embeds.dtype))

    def forward(
        self,
        pixel_values: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        suffix: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Hidden states for one image and a prompt, assembled by robovlms from the contract.

        ``suffix`` ``(B, S, D)`` embeddings (the VLA's action tokens) follow the prompt and attend
        causally. This is the path the VLA takes; :meth:`reference_forward` is the VLM's own, and
        the conformance suite checks that both agree.
        """
        embeds, image_tokens = self.embed_prompt(pixel_values, input_ids)
        prefix = attention_mask.bool()
        image_index = self.prompt_image_index(input_ids)
        if suffix is not None:
            embeds = torch.cat([embeds, suffix.to(embeds.dtype)], dim=1)
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones(suffix.shape[:2])], dim=1)
            prefix = torch.cat([prefix, prefix.new_zeros(suffix.shape[:2])], dim=1)
            image_index = torch.cat([image_index, image_index_of(prefix.new_zeros(suffix.shape[:2]))], dim=1)
        cross: dict[str, torch.Tensor] = {}
        if self.fusion == "cross_attention":
            cross = {"image_tokens": image_tokens.unsqueeze(1), "image_attention_mask": attention_mask.unsqueeze(-1)}
        return self.text_pass(
            embeds,
            attention_mask,
            image_index=image_index,
            image_layout=self.layout_of(pixel_values),
            prefix_mask=prefix,
            **cross,
        )

    def reference_inputs(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, Any]:
        """Inputs of the wrapped model's own forward for one image and a prompt (override to add or reshape)."""
        return {"input_ids": input_ids, "pixel_values": pixel_values, "attention_mask": attention_mask}

    def reference_forward(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """Final hidden states from the wrapped transformers model's own forward, for fidelity checks.

        The default runs ``model.base_model``, which for most VLMs returns ``last_hidden_state``;
        override it where the VLM's own forward gives logits only (Kosmos-2).
        """
        where = f"backbone {self.name!r}: the default reference_forward runs {type(self.model).__name__}.base_model"
        advice = (
            "override reference_inputs, or reference_forward to return the final hidden states of the VLM's own forward"
        )
        try:
            out = self.model.base_model(**self.reference_inputs(pixel_values, input_ids, attention_mask))
        except Exception as exc:  # whatever the VLM raises for inputs it does not take
            raise PluginError(f"{where}, which failed ({first_line(exc, with_type=True)}); {advice}") from None
        hidden = getattr(out, "last_hidden_state", None)
        if not isinstance(hidden, torch.Tensor):
            raise PluginError(f"{where}, which returns {type(out).__name__} without last_hidden_state; {advice}")
        return hidden

    # -- training switches ---------------------------------------------------------------------

    def configure_training(self, training: TrainingConfig) -> None:
        """Apply the config's freezing, LoRA and gradient-checkpointing switches."""
        lora = training.lora_rank > 0
        if lora and not self.lora:
            self._add_lora(training)
        # text tower first: in some VLMs it contains the vision tower and the embeddings
        for module, frozen in (
            (self.text_tower, training.freeze_language_model or lora),
            (self.vision_tower, training.freeze_vision_tower),
            (self.word_embedding, training.freeze_embeddings),
        ):
            module.requires_grad_(not frozen)
        for name, parameter in self.text_tower.named_parameters():
            if ".lora_" in name:
                parameter.requires_grad_(True)
        if training.gradient_checkpointing != self.gradient_checkpointing:
            self._set_checkpointing(training.gradient_checkpointing)

    @property
    def lora(self) -> bool:
        """Whether LoRA adapters sit in the language model."""
        return any(".lora_" in name for name, _ in self.text_tower.named_parameters())

    def _add_lora(self, training: TrainingConfig) -> None:
        try:
            from peft import LoraConfig, inject_adapter_in_model
        except ImportError:
            raise ConfigError("training.lora_rank: LoRA needs peft; pip install 'robovlms[lora]'") from None
        config = LoraConfig(
            r=training.lora_rank,
            lora_alpha=training.lora_alpha,  # type: ignore[arg-type]  # annotated int, used as a float scale
            lora_dropout=training.lora_dropout,
            target_modules=list(training.lora_targets),
        )
        try:
            inject_adapter_in_model(config, self.text_tower)
        except ValueError as exc:
            raise ConfigError(f"training.lora_targets: {first_line(exc)}") from None

    def _plain_state_dict(self) -> dict[str, torch.Tensor] | None:
        """The VLM's weights with LoRA merged in, under the names of the plain transformers model."""
        if not self.lora:
            return None
        from peft.tuners.lora import LoraLayer

        merged = {
            f"{name}.weight": (module.base_layer.weight + module.get_delta_weight("default")).detach()  # type: ignore[attr-defined]
            for name, module in self.model.named_modules()
            if isinstance(module, LoraLayer)
        }
        state = {}
        for key, value in self.model.state_dict().items():
            if ".lora_" not in key:
                key = key.replace(".base_layer.", ".")
                state[key] = merged.get(key, value)
        return state

    @property
    def gradient_checkpointing(self) -> bool:
        """Whether layers recompute activations in backward instead of storing them."""
        return any(getattr(m, "gradient_checkpointing", False) is True for m in self.model.modules())

    def _set_checkpointing(self, on: bool) -> None:
        set_checkpointing(self.model, on)


def set_checkpointing(model: Any, on: bool) -> None:
    """Switch activation checkpointing (non-reentrant) on or off for a transformers model or one of its parts."""
    # transformers renamed gradient_* to activation_* in 5.x; the old names warn, then go in v6
    if hasattr(model, "activation_checkpointing_enable"):
        if on:
            model.activation_checkpointing_enable({"use_reentrant": False})
        else:
            model.activation_checkpointing_disable()
    elif on:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_disable()
