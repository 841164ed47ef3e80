"""The VLA: a backbone, learnable action tokens and an action head, for any installed VLM.

For every frame, the prompt (the instruction with the frame's image) is followed by
``num_action_tokens`` learnable tokens; the language model's hidden states at those tokens feed
the head, which predicts a chunk of future actions. ``model.history_mode`` decides how a window of
frames is seen: ``one_step`` and ``policy_head`` run each frame through the language model on its
own (the head fuses the window in ``policy_head``); ``interleaved`` puts the whole window into one
sequence. Image tokens enter the sequence or the cross-attention as the backbone's ``fusion``
says; nothing here depends on which VLM it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from robovlms.config import Config, InferenceConfig, load_config
from robovlms.errors import InputError
from robovlms.model import storage
from robovlms.model.action_head import BaseActionHead
from robovlms.model.backbone import BaseRoboVLM, EncodedPrompt
from robovlms.model.components import build_backbone, build_head, head_class, head_spec
from robovlms.model.normalization import ActionNormalizer
from robovlms.model.policy import Policy
from robovlms.model.state import StateEncoder


class VLA(nn.Module):
    """Any VLM as a policy: frames and an instruction in, chunks of 7-DoF actions out."""

    def __init__(
        self,
        config: Config,
        backbone: BaseRoboVLM,
        head: BaseActionHead,
        normalizer: ActionNormalizer | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.backbone = backbone
        self.head = head
        self.normalizer = normalizer or ActionNormalizer.identity(
            config.model.action_dim, clip=config.model.clip_actions
        )
        with torch.no_grad():  # start the action tokens at the scale of the VLM's own token embeddings
            vocab = torch.arange(
                min(256, backbone.word_embedding.num_embeddings), device=backbone.word_embedding.weight.device
            )
            embedded = backbone.word_embedding(vocab).float().std()
            # on the meta device (counting parameters without memory) there are no values to take the scale of
            scale = 1.0 if embedded.is_meta else embedded.item()
        generator = torch.Generator().manual_seed(config.training.seed)
        tokens = torch.randn(config.model.num_action_tokens, backbone.hidden_size, generator=generator) * scale
        self.action_tokens = nn.Parameter(tokens.to(backbone.word_embedding.weight.dtype))
        state_dim = config.model.state_dim
        self.state_encoder = StateEncoder(state_dim, backbone.hidden_size) if state_dim else None

    # -- inputs ----------------------------------------------------------------------------------

    def pixels(self, images: Any) -> torch.Tensor:
        """``(B, T, H, W, 3)`` uint8 frames (or already processed ``(B, T, 3, S, S)`` floats) to pixels."""
        if isinstance(images, torch.Tensor) and images.is_floating_point() and images.ndim == 5:
            return images.to(self.action_tokens.device)
        shape = tuple(np.shape(images))
        if len(shape) != 5 or shape[-1] != 3:
            raise InputError(f"images: expected shape (batch, frames, H, W, 3), got {shape}")
        flat = images.reshape(shape[0] * shape[1], *shape[2:])
        pixels = self.backbone.image_processor(flat).to(self.action_tokens.device)
        return pixels.view(shape[0], shape[1], *pixels.shape[1:])

    def encode_instructions(self, instructions: list[str]) -> EncodedPrompt:
        """The backbone's prompts for a batch of instructions, tokenized."""
        if not isinstance(instructions, (list, tuple)) or not all(isinstance(i, str) for i in instructions):
            raise InputError("instructions: expected a list of strings, one per sample")
        return self.backbone.tokenize(list(instructions))

    # -- features at the action tokens ------------------------------------------------------------

    def frame_features(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """Each frame on its own through the language model: ``(N, K, D)`` at its action tokens."""
        k = self.action_tokens.shape[0]
        suffix = self.action_tokens.unsqueeze(0).expand(pixel_values.shape[0], -1, -1)
        return self.backbone(pixel_values, input_ids, attention_mask, suffix=suffix)[:, -k:]

    def window_features(self, pixels: torch.Tensor, prompts: EncodedPrompt, frame_mask: torch.Tensor) -> torch.Tensor:
        """Hidden states at the action tokens of every frame of the window: ``(B, T, K, D)``."""
        b, t = pixels.shape[:2]
        if self.config.model.history_mode == "interleaved":
            return self._interleaved(pixels, prompts, frame_mask)
        ids = prompts["input_ids"].repeat_interleave(t, dim=0)
        mask = prompts["attention_mask"].repeat_interleave(t, dim=0)
        features = self.frame_features(pixels.flatten(0, 1), ids, mask)
        return features.view(b, t, *features.shape[1:])

    def _interleaved(self, pixels: torch.Tensor, prompts: EncodedPrompt, frame_mask: torch.Tensor) -> torch.Tensor:
        """One sequence per window: the prompt with frame 0, then [frame t, action tokens] for each t."""
        backbone = self.backbone
        b, t = pixels.shape[:2]
        k = self.action_tokens.shape[0]
        cross = backbone.fusion == "cross_attention"
        first, image_tokens = backbone.embed_prompt(pixels[:, 0], prompts["input_ids"])
        if t > 1:
            rest = backbone.encode_images(pixels[:, 1:].flatten(0, 1))
            image_tokens = torch.cat([image_tokens.unsqueeze(1), rest.view(b, t - 1, *rest.shape[1:])], dim=1)
        else:
            image_tokens = image_tokens.unsqueeze(1)
        actions = self.action_tokens.unsqueeze(0).expand(b, -1, -1).to(first.dtype)
        real = frame_mask.to(prompts["attention_mask"].dtype)
        pieces, masks, frames = [first], [prompts["attention_mask"]], [torch.zeros_like(prompts["attention_mask"])]
        for step in range(t):
            if step > 0 and not cross:
                pieces.append(image_tokens[:, step].to(first.dtype))
                masks.append(real[:, step : step + 1].expand(-1, image_tokens.shape[2]))
                frames.append(torch.full_like(masks[-1], step))
            pieces.append(actions)
            masks.append(real[:, step : step + 1].expand(-1, k))
            frames.append(torch.full_like(masks[-1], step))
        embeds, mask, frame_of = torch.cat(pieces, 1), torch.cat(masks, 1), torch.cat(frames, 1)
        prefix = torch.zeros_like(mask, dtype=torch.bool)
        prefix[:, : first.shape[1]] = prompts["attention_mask"].bool()
        extra: dict[str, torch.Tensor] = {}
        if cross:  # every position sees the image of its own frame
            sees = nn.functional.one_hot(frame_of, t) * mask.unsqueeze(-1)
            extra = {"image_tokens": image_tokens, "image_attention_mask": sees}
        hidden = backbone.forward_text(embeds, mask, prefix_mask=prefix, **extra)
        segment = k + (0 if cross else image_tokens.shape[2])
        ends = first.shape[1] + k + segment * torch.arange(t, device=hidden.device)  # end of each frame's actions
        index = ends.unsqueeze(1) - k + torch.arange(k, device=hidden.device).unsqueeze(0)  # (T, K)
        return hidden[:, index]

    def with_state(self, features: torch.Tensor, states: Any) -> torch.Tensor:
        """``(B, T, K, D)`` features with each frame's robot state added, for a model that takes it."""
        if self.state_encoder is None:
            if states is not None:
                raise InputError("states: this model takes no robot state (model.state_dim is null); pass none")
            return features
        states = self.state_encoder.check(states, tuple(features.shape[:2]))
        return features + self.state_encoder(states).unsqueeze(2).to(features.dtype)

    # -- training and inference -------------------------------------------------------------------

    def forward(
        self,
        images: Any,
        instructions: list[str],
        frame_mask: torch.Tensor | None = None,
        actions: torch.Tensor | None = None,
        action_mask: torch.Tensor | None = None,
        states: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Predictions for a batch of windows, and the losses when target ``actions`` are given.

        ``images`` ``(B, T, H, W, 3)``; ``frame_mask`` ``(B, T)`` False for padding frames after an
        episode's end; ``actions`` ``(B, T, chunk, action_dim)`` in robot units; ``action_mask``
        ``(B, T, chunk)`` False where the episode ends inside a chunk; ``states`` ``(B, T,
        state_dim)``, for a model with ``model.state_dim`` only.
        """
        pixels = self.pixels(images)
        b, t = pixels.shape[:2]
        if len(instructions) != b:
            raise InputError(f"instructions: got {len(instructions)} for a batch of {b}")
        if frame_mask is None:
            frame_mask = torch.ones(b, t, dtype=torch.bool, device=pixels.device)
        features = self.window_features(pixels, self.encode_instructions(instructions), frame_mask.bool())
        features = self.with_state(features, states)
        prediction = self.head(features, frame_mask.bool())
        out = {"prediction": prediction}
        if actions is not None:
            actions = torch.as_tensor(actions, dtype=torch.float32, device=pixels.device)
            mask = frame_mask.bool().unsqueeze(-1).expand(actions.shape[:3])
            if action_mask is not None:
                mask = mask & action_mask.bool()
            out.update(self.head.loss(prediction, self.normalizer.normalize(actions), mask))
        return out

    def to_robot(self, decoded: torch.Tensor) -> torch.Tensor:
        """Decoded actions to robot units: arm de-normalized, gripper +1 (open) or -1 (close)."""
        gripper = torch.where(decoded[..., -1:] > 0.5, 1.0, -1.0)
        return self.normalizer.denormalize(torch.cat([decoded[..., :-1], gripper], dim=-1))

    @torch.no_grad()
    def predict(
        self,
        images: Any,
        instructions: list[str],
        frame_mask: torch.Tensor | None = None,
        states: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Action chunks in robot units for every frame: ``(B, T, chunk, action_dim)``."""
        prediction = self(images, instructions, frame_mask, states=states)["prediction"]
        return self.to_robot(self.decode(prediction, generator=generator))

    def decode(self, prediction: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """The head's decoding (normalized arm values, gripper probability); a sampling head draws from
        ``generator`` (the global random state when None), the others ignore it."""
        if self.head.stochastic:
            return self.head.decode(prediction, generator=generator)  # type: ignore[call-arg]
        return self.head.decode(prediction)

    def policy(self, **overrides: Any) -> Policy:
        """A streaming policy (``reset()``, ``step(observation)``); ``overrides`` replace ``config.inference`` keys."""
        settings = {**self.config.inference.model_dump(), **overrides}
        return Policy(self, InferenceConfig.model_validate(settings))

    # -- building and files -----------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: Config | dict, *, normalizer: ActionNormalizer | None = None) -> VLA:
        """The VLA that ``config`` describes: its backbone and head loaded by name from installed plugins."""
        config = config if isinstance(config, Config) else load_config(config)
        head_cls = head_class(config.model.action_head)
        head_cls.check_mode(config.model.history_mode)
        backbone = build_backbone(config)
        head = build_head(head_cls, config.action_head, head_spec(config.model, backbone), config.training.seed)
        head.requires_grad_(not config.training.freeze_action_head)
        return cls(config, backbone, head, normalizer)

    def _own_tensors(self) -> dict[str, torch.Tensor]:
        """Everything but the backbone, which is saved in transformers format beside it."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("backbone.")}

    def save_pretrained(self, directory: str | Path) -> None:
        """Write the config, weights (safetensors), normalisation and plugin versions to ``directory``."""
        directory = Path(directory)
        storage.write_metadata(directory, self.config)
        self.backbone.save_pretrained(directory / storage.BACKBONE_FOLDER)
        storage.write_weights(directory, self._own_tensors())
        self.normalizer.save(directory / storage.NORMALIZATION)

    @classmethod
    def from_pretrained(cls, directory: str | Path, *, trust_remote_code: bool | None = None) -> VLA:
        """Restore a VLA written by :meth:`save_pretrained`; no pickle is ever loaded.

        ``trust_remote_code`` lets Python code in the folder's ``backbone/`` run; None leaves it to
        ``ROBOVLMS_TRUST_REMOTE_CODE``. What the folder's own config says is never taken for it.
        """
        directory = Path(directory)
        config = storage.read_config(directory, trust_remote_code=storage.trusted(trust_remote_code))
        normalizer = ActionNormalizer.load(directory / storage.NORMALIZATION, config.model.action_dim)
        vla = cls.from_config(config, normalizer=normalizer)
        vla.load_state_dict(storage.read_weights(directory, vla._own_tensors()), strict=False)
        return vla.eval()


def build_vla(config: Config | dict, *, normalizer: ActionNormalizer | None = None) -> VLA:
    """The VLA that ``config`` describes: its backbone and head loaded by name from installed plugins."""
    return VLA.from_config(config, normalizer=normalizer)
