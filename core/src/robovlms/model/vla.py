"""The VLA: a backbone, learnable action tokens and an action head, for any installed VLM.

For every frame, the prompt (the instruction with the frame's image) is followed by
``num_action_tokens`` learnable tokens; the language model's hidden states at those tokens feed
the head, which predicts a chunk of future actions. ``model.history_mode`` decides how a window of
frames is seen: ``one_step`` and ``policy_head`` run each frame through the language model on its
own (the head fuses the window in ``policy_head``); ``interleaved`` puts the whole window into one
sequence. Image tokens enter the sequence or the cross-attention as the backbone's ``fusion``
says; nothing here depends on which VLM it is.

Every camera of ``data.image_keys`` feeds the model: with ``tokens`` fusion the first camera's
tokens fill the prompt's placeholders and each further camera follows as a block of its own; with
``cross_attention`` every camera is one of the cross-attended images. A learned per-camera vector,
zero at the start, is added to each camera's tokens so the model can tell them apart.
:meth:`VLA.assemble` is the one place where sequences are put together.
"""

from __future__ import annotations

from dataclasses import dataclass
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
from robovlms.model.sequence import NO_IMAGE, ImageLayout
from robovlms.model.state import StateEncoder


@dataclass(frozen=True)
class TokenSequence:
    """What the language model reads for a batch of windows, and where the action tokens sit."""

    embeds: torch.Tensor  #: (B, L, D)
    mask: torch.Tensor  #: (B, L) attention mask
    prefix: torch.Tensor  #: (B, L) positions that attend bidirectionally (prefix-LM backbones)
    #: (B, L) which image a position holds, ``frame * cameras + camera``, or -1 (text, action tokens)
    image_of: torch.Tensor
    #: for ``cross_attention``: ``image_tokens`` (B, T * C, N, D') and ``image_attention_mask`` (B, L, T * C)
    cross: dict[str, torch.Tensor]
    actions: torch.Tensor  #: (T, K) positions of each frame's action tokens
    layout: ImageLayout  #: how each image enters the sequence (its processed size, token count, grid)


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
            scale = backbone.word_embedding(vocab).float().std().item()
        generator = torch.Generator().manual_seed(config.training.seed)
        tokens = torch.randn(config.model.num_action_tokens, backbone.hidden_size, generator=generator) * scale
        self.action_tokens = nn.Parameter(tokens.to(backbone.word_embedding.weight.dtype))
        state_dim = config.model.state_dim
        self.state_encoder = StateEncoder(state_dim, backbone.hidden_size) if state_dim else None
        cameras = len(config.data.image_keys)
        #: a vector per camera added to its image tokens (zero at first); none with one camera
        self.camera_embedding = nn.Parameter(torch.zeros(cameras, self._image_width())) if cameras > 1 else None
        #: each camera's frame size ``(H, W)`` as trained on, when known (set by the trainer, saved)
        self.camera_sizes: dict[str, tuple[int, int]] | None = None

    @property
    def cameras(self) -> list[str]:
        """The camera names (``data.image_keys``), in the order the model reads them."""
        return list(self.config.data.image_keys)

    def _image_width(self) -> int:
        """Width of an image token: the language model's, or for cross-attention what the encoder gives."""
        backbone = self.backbone
        if backbone.fusion == "tokens":
            return backbone.hidden_size
        with torch.no_grad():
            probe = backbone.image_processor(np.zeros((1, 16, 16, 3), np.uint8)).to(self.action_tokens.device)
            return int(backbone.encode_images(probe).shape[-1])

    # -- inputs ----------------------------------------------------------------------------------

    def pixels(self, images: Any) -> torch.Tensor:
        """Every camera's frames to pixels ``(B, T, C, 3, S, S)``.

        ``images`` is ``{camera: (B, T, H, W, 3) uint8}`` with every camera of the model (each may
        have its own size), or for a one-camera model the ``(B, T, H, W, 3)`` array itself; already
        processed floats ``(B, T, [C,] 3, S, S)`` pass through.
        """
        if isinstance(images, torch.Tensor) and images.is_floating_point() and images.ndim in (5, 6):
            images = images if images.ndim == 6 else images.unsqueeze(2)
            return images.to(self.action_tokens.device)
        if not isinstance(images, dict):
            if len(self.cameras) > 1:
                raise InputError(
                    f"images: this model reads {len(self.cameras)} cameras ({', '.join(self.cameras)}); "
                    "pass a dict of (batch, frames, H, W, 3) arrays by camera"
                )
            images = {self.cameras[0]: images}
        self.check_cameras(images, "images")
        per_camera = []
        for camera in self.cameras:
            shape = tuple(np.shape(images[camera]))
            if len(shape) != 5 or shape[-1] != 3:
                raise InputError(f"images[{camera!r}]: expected shape (batch, frames, H, W, 3), got {shape}")
            flat = images[camera].reshape(shape[0] * shape[1], *shape[2:])
            pixels = self.backbone.image_processor(flat).to(self.action_tokens.device)
            per_camera.append(pixels.view(shape[0], shape[1], *pixels.shape[1:]))
        if len({p.shape[:2] for p in per_camera}) > 1:
            counts = [tuple(p.shape[:2]) for p in per_camera]
            raise InputError(f"images: the cameras differ in batch size or frame count ({counts})")
        if len({p.shape[-2:] for p in per_camera}) > 1:  # a pixel-budget processor keeps each frame's size
            sizes = {camera: tuple(p.shape[-2:]) for camera, p in zip(self.cameras, per_camera, strict=True)}
            raise InputError(
                f"images: backbone {self.backbone.name!r} sees the cameras at different sizes {sizes} "
                f"({self.backbone.image_processor.rule} resizing); give every camera frames of one size"
            )
        return torch.stack(per_camera, dim=2)

    def check_cameras(self, images: dict[str, Any], where: str) -> None:
        """One line naming a missing or extra camera (the model's are ``data.image_keys``)."""
        missing = [c for c in self.cameras if c not in images]
        extra = [str(c) for c in images if c not in self.cameras]
        if missing or extra:
            problem = f"missing camera {missing[0]!r}" if missing else f"unknown camera {extra[0]!r}"
            raise InputError(f"{where}: {problem}; this model reads exactly {', '.join(map(repr, self.cameras))}")

    def encode_instructions(self, instructions: list[str], image_size: tuple[int, int] | None = None) -> EncodedPrompt:
        """The backbone's prompts for a batch of instructions, tokenized for images of ``image_size``
        (processed ``(height, width)``; the processor's square size when None)."""
        if not isinstance(instructions, (list, tuple)) or not all(isinstance(i, str) for i in instructions):
            raise InputError("instructions: expected a list of strings, one per sample")
        return self.backbone.prompts_for(list(instructions), image_size)

    # -- features at the action tokens ------------------------------------------------------------

    def frame_features(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """Each frame on its own through the language model: ``(N, K, D)`` at its action tokens.

        ``pixel_values`` ``(N, C, 3, S, S)``, every camera of each frame (``(N, 3, S, S)`` for one).
        """
        pixels = pixel_values.unsqueeze(1) if pixel_values.ndim == 4 else pixel_values
        prompts: EncodedPrompt = {"input_ids": input_ids, "attention_mask": attention_mask}
        frames = torch.ones(pixels.shape[0], 1, dtype=torch.bool, device=pixels.device)
        return self._features(self.assemble(pixels.unsqueeze(1), prompts, frames))[:, 0]

    def window_features(self, pixels: torch.Tensor, prompts: EncodedPrompt, frame_mask: torch.Tensor) -> torch.Tensor:
        """Hidden states at the action tokens of every frame of the window: ``(B, T, K, D)``.

        ``pixels`` ``(B, T, C, 3, S, S)`` (``(B, T, 3, S, S)`` for one camera).
        """
        pixels = pixels.unsqueeze(2) if pixels.ndim == 5 else pixels
        b, t = pixels.shape[:2]
        if self.config.model.history_mode == "interleaved":
            return self._features(self.assemble(pixels, prompts, frame_mask))
        ids = prompts["input_ids"].repeat_interleave(t, dim=0)
        mask = prompts["attention_mask"].repeat_interleave(t, dim=0)
        features = self.frame_features(pixels.flatten(0, 1), ids, mask)
        return features.view(b, t, *features.shape[1:])

    def image_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """``(B, T, C, 3, S, S)`` pixels to ``(B, T, C, N, D)`` image tokens, each camera's vector added."""
        b, t, c = pixels.shape[:3]
        tokens = self.backbone.encode_images(pixels.flatten(0, 2))
        tokens = tokens.view(b, t, c, *tokens.shape[1:])
        if self.camera_embedding is not None:
            tokens = tokens + self.camera_embedding.to(tokens.dtype)[:, None, :]
        return tokens

    def assemble(self, pixels: torch.Tensor, prompts: EncodedPrompt, frame_mask: torch.Tensor) -> TokenSequence:
        """One sequence per window: the prompt with frame 0's first camera at its placeholders, then
        frame 0's other cameras and its action tokens, then ``[frame t's cameras, action tokens]``
        for each later frame (``cross_attention``: no image tokens in the sequence; each position
        sees every camera of its frame). A single frame is a window of one."""
        backbone = self.backbone
        b, t, c = pixels.shape[:3]
        k = self.action_tokens.shape[0]
        cross = backbone.fusion == "cross_attention"
        tokens = self.image_tokens(pixels)
        ids, prompt_mask = prompts["input_ids"], prompts["attention_mask"]
        first = backbone.embed_text(ids)
        image_of = torch.full_like(ids, NO_IMAGE)
        if not cross:
            first = backbone.place_images(first, ids, tokens[:, 0, 0])
            image_of = image_of.masked_fill(backbone.image_slots(ids), 0)
        actions = self.action_tokens.unsqueeze(0).expand(b, -1, -1).to(first.dtype)
        real = frame_mask.to(prompt_mask.dtype)
        pieces, masks, images, frames = [first], [prompt_mask], [image_of], [torch.zeros_like(prompt_mask)]
        starts, length = [], first.shape[1]

        def add(piece: torch.Tensor, step: int, image: int) -> None:
            nonlocal length
            pieces.append(piece.to(first.dtype))
            masks.append(real[:, step : step + 1].expand(-1, piece.shape[1]))
            images.append(torch.full_like(masks[-1], image))
            frames.append(torch.full_like(masks[-1], step))
            length += piece.shape[1]

        for step in range(t):
            for camera in range(0 if step else 1, 0 if cross else c):
                add(tokens[:, step, camera], step, step * c + camera)
            starts.append(length)
            add(actions, step, NO_IMAGE)
        mask, frame_of = torch.cat(masks, 1), torch.cat(frames, 1)
        prefix = torch.zeros_like(mask, dtype=torch.bool)
        prefix[:, : first.shape[1]] = prompt_mask.bool()
        prefix[:, first.shape[1] : starts[0]] = True  # frame 0's further cameras belong to the prompt's images
        extra: dict[str, torch.Tensor] = {}
        if cross:  # every position sees each camera of its own frame
            sees = nn.functional.one_hot(frame_of, t).repeat_interleave(c, dim=-1) * mask.unsqueeze(-1)
            extra = {"image_tokens": tokens.flatten(1, 2), "image_attention_mask": sees}
        positions = torch.tensor(starts, device=mask.device).unsqueeze(1) + torch.arange(k, device=mask.device)
        layout = backbone.layout_of(pixels)
        return TokenSequence(torch.cat(pieces, 1), mask, prefix, torch.cat(images, 1), extra, positions, layout)

    def _features(self, sequence: TokenSequence) -> torch.Tensor:
        """The language model over an assembled sequence: ``(B, T, K, D)`` at the action tokens."""
        hidden = self.backbone.text_pass(
            sequence.embeds,
            sequence.mask,
            image_index=sequence.image_of,
            image_layout=sequence.layout,
            prefix_mask=sequence.prefix,
            **sequence.cross,
        )
        return hidden[:, sequence.actions]

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
        prompts = self.encode_instructions(instructions, (pixels.shape[-2], pixels.shape[-1]))
        features = self.window_features(pixels, prompts, frame_mask.bool())
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
        if self.camera_sizes is not None:
            storage.write_cameras(directory, self.camera_sizes)

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
        vla.camera_sizes = storage.read_cameras(directory, vla.cameras)
        return vla.eval()


def build_vla(config: Config | dict, *, normalizer: ActionNormalizer | None = None) -> VLA:
    """The VLA that ``config`` describes: its backbone and head loaded by name from installed plugins."""
    return VLA.from_config(config, normalizer=normalizer)
