"""The streaming policy: one observation in, one action out, history and chunks kept inside.

A robot loop calls ``reset()`` at the start of an episode and ``step(observation)`` at every
control tick. The policy keeps the history window itself, asks the model for a new chunk every
``execute_steps`` steps, and in between plays the chunk it has (or, with temporal ensembling,
averages every chunk that covers the current step). In ``policy_head`` mode each frame's features
are computed once and cached, so a step runs the backbone on new frames only, whatever the window.
A model trained with the robot state (``model.state_dim``) needs ``observation["state"]`` too.

An observation carries a frame from every camera the model reads, ``{"images": {camera: frame},
"instruction": ..., "state": ...}``; a one-camera model also takes ``{"image": frame, ...}``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from robovlms.config import InferenceConfig
from robovlms.errors import InputError, ModelError, RoboVLMsError
from robovlms.model.backbone import EncodedPrompt

if TYPE_CHECKING:  # the VLA makes policies (VLA.policy), so it imports this module, not the reverse
    from robovlms.model.vla import VLA


@dataclass(frozen=True)
class Prepared:
    """An observation checked and preprocessed by :meth:`Policy.prepare`, ready for :meth:`Policy.step`."""

    pixels: torch.Tensor
    instruction: str
    state: torch.Tensor | None
    #: the tokenized instruction, when it differs from the one the policy holds
    encoded: EncodedPrompt | None


class Policy:
    """``reset()`` then ``step(observation) -> np.ndarray`` of shape ``(action_dim,)``."""

    def __init__(self, vla: VLA, settings: InferenceConfig) -> None:
        chunk = vla.config.model.action_chunk_size
        if settings.execute_steps > chunk:
            raise InputError(f"execute_steps is {settings.execute_steps}; it must be 1 to the chunk size {chunk}")
        self.vla = vla.eval()
        self.settings = settings
        self.window = vla.config.model.history_length
        self.cache_features = vla.config.model.history_mode == "policy_head"
        self._started = False
        #: how many frames went through the backbone, and how many times the model was asked
        self.frames_encoded = 0
        self.model_calls = 0

    def reset(self, seed: int = 0) -> None:
        """Start a new episode: forget the history and any pending actions.

        ``seed`` seeds the noise of a sampling head (flow matching), so the same episode with the
        same seed gives the same actions; deterministic heads draw nothing.
        """
        self._generator = torch.Generator(device=self.vla.action_tokens.device).manual_seed(seed)
        self._pixels: deque[torch.Tensor] = deque(maxlen=self.window)  # (1, cameras, 3, S, S) each
        self._features: deque[torch.Tensor | None] = deque(maxlen=self.window)
        self._states: deque[torch.Tensor] = deque(maxlen=self.window)
        self._chunks: deque[tuple[int, torch.Tensor]] = deque()
        self._instruction: str | None = None
        self._encoded: EncodedPrompt | None = None
        self._step = 0
        self._started = True

    def prepare(self, observation: Any) -> Prepared:
        """Check and preprocess an observation without touching the policy's state.

        The costly per-observation work (resizing the frame, tokenizing the instruction) happens
        here, so a server can do it for each client outside the lock that serialises model steps;
        :meth:`step` takes the result as it takes a raw observation.
        """
        if isinstance(observation, Prepared):
            return observation
        self._require_started()
        pixels, instruction, state = self._check(observation)
        # tokenized only when the episode's instruction changes (each session prepares for its own policy)
        encoded = None if instruction == self._instruction else self._encode(instruction, pixels)
        return Prepared(pixels, instruction, state, encoded)

    def _encode(self, instruction: str, pixels: torch.Tensor) -> EncodedPrompt:
        return self.vla.encode_instructions([instruction], (pixels.shape[-2], pixels.shape[-1]))

    def _require_started(self) -> None:
        if not self._started:
            raise RoboVLMsError("policy.step() was called before policy.reset(); call reset() at each episode start")

    def _check(self, observation: Any) -> tuple[torch.Tensor, str, torch.Tensor | None]:
        if not isinstance(observation, dict):
            raise InputError(
                "observation: expected a dict with 'images' (or 'image') and 'instruction', "
                f"got {type(observation).__name__}"
            )
        if "instruction" not in observation or not isinstance(observation["instruction"], str):
            raise InputError("observation['instruction']: expected a string (the task in words; '' for none)")
        images = self._images(observation)
        state = None
        encoder = self.vla.state_encoder
        if encoder is not None:
            if observation.get("state") is None:
                raise InputError(
                    f"observation['state']: missing; this model takes the robot state, {encoder.state_dim} values"
                )
            state = encoder.check(observation["state"], (), name="observation['state']")
        processor, device = self.vla.backbone.image_processor, self.vla.action_tokens.device
        pixels = torch.cat([processor(images[camera]) for camera in self.vla.cameras]).to(device)
        return pixels.unsqueeze(0), observation["instruction"], state

    def _images(self, observation: dict[str, Any]) -> dict[str, Any]:
        """Each camera's frame, checked: none missing or extra, each (H, W, 3) of its trained size."""
        cameras = self.vla.cameras
        if "image" in observation and "images" in observation:
            raise InputError("observation: give 'images' (a frame per camera) or 'image', not both")
        if "image" in observation:
            if len(cameras) > 1:
                raise InputError(
                    f"observation['image']: this model reads {len(cameras)} cameras; give observation['images'] "
                    f"with a frame for each of {', '.join(map(repr, cameras))}"
                )
            images = {cameras[0]: observation["image"]}
            where = "observation['image']"
        elif isinstance(observation.get("images"), dict):
            images = observation["images"]
            self.vla.check_cameras(images, "observation['images']")
            where = "observation['images'][{!r}]"
        elif len(cameras) == 1:
            raise InputError("observation['image']: missing; expected a uint8 array of shape (H, W, 3)")
        else:
            raise InputError(
                "observation['images']: missing; expected a dict of uint8 (H, W, 3) frames for "
                + ", ".join(map(repr, cameras))
            )
        sizes = self.vla.camera_sizes or {}
        for camera in cameras:
            shape, name = tuple(np.shape(images[camera])), where.format(camera)
            if len(shape) != 3:
                raise InputError(f"{name}: expected shape (H, W, 3), got {shape}")
            if camera in sizes and shape[:2] != tuple(sizes[camera]):
                raise InputError(
                    f"{name}: camera {camera!r} gives {shape[0]}x{shape[1]} frames, the model was trained on "
                    f"{sizes[camera][0]}x{sizes[camera][1]}"
                )
        return images

    @torch.inference_mode()  # cheaper than no_grad: no version counters, no view tracking
    def step(self, observation: dict[str, Any] | Prepared) -> np.ndarray:
        """The action to execute now, in robot units: arm values then the gripper (+1 open, -1 close)."""
        prepared = self.prepare(observation)
        self._require_started()  # a Prepared made before reset() skipped prepare's check
        pixels, instruction, state = prepared.pixels, prepared.instruction, prepared.state
        if instruction != self._instruction:
            encoded = prepared.encoded or self._encode(instruction, pixels)
            self._instruction, self._encoded = instruction, encoded
            self._features.clear()  # cached features were computed for the old instruction
            self._features.extend([None] * len(self._pixels))
        self._pixels.append(pixels)
        self._features.append(None)
        if state is not None:
            self._states.append(state)
        if self._step % self.settings.execute_steps == 0:
            self._chunks.append((self._step, self._ask()))
        action = self._current().cpu().numpy().astype(np.float32)
        if not np.isfinite(action).all():
            # nothing a robot could execute: refuse it here rather than let it reach the arm
            raise ModelError(
                f"policy: the model produced a non-finite action at step {self._step} ({action.tolist()}); "
                "its weights or normalisation statistics hold NaN or infinity, so nothing is sent"
            )
        self._step += 1
        return action

    def _ask(self) -> torch.Tensor:
        """A new chunk (normalized arm values, gripper probability) for the newest frame."""
        vla = self.vla
        frames = torch.ones(1, len(self._pixels), dtype=torch.bool, device=vla.action_tokens.device)
        if self.cache_features:
            missing = [i for i, f in enumerate(self._features) if f is None]
            if missing:
                encoded = self._encoded
                assert encoded is not None  # step() encodes the instruction before it asks
                fresh = vla.frame_features(
                    torch.cat([self._pixels[i] for i in missing]),  # only new frames: no per-step copy of the window
                    encoded["input_ids"].expand(len(missing), -1),
                    encoded["attention_mask"].expand(len(missing), -1),
                )
                self.frames_encoded += len(missing)
                for slot, feature in zip(missing, fresh, strict=True):
                    self._features[slot] = feature
            cached = [f for f in self._features if f is not None]  # every slot was filled just above
            features = torch.stack(cached).unsqueeze(0)
        else:
            pixels = torch.cat(list(self._pixels)).unsqueeze(0)  # (1, T, 3, S, S)
            if vla.config.model.history_mode == "one_step":
                pixels, frames = pixels[:, -1:], frames[:, -1:]
            assert self._encoded is not None
            features = vla.window_features(pixels, self._encoded, frames)
            self.frames_encoded += pixels.shape[1]
        if vla.state_encoder is not None:
            states = torch.stack(list(self._states)).unsqueeze(0)
            features = vla.with_state(features, states[:, -features.shape[1] :])
        self.model_calls += 1
        return vla.decode(vla.head(features, frames)[:, -1:], generator=self._generator)[0, -1]

    @property
    def steps(self) -> int:
        """Steps taken in this episode."""
        return self._step if self._started else 0

    @torch.inference_mode()
    def planned(self) -> np.ndarray:
        """The newest chunk from the step just taken on, in robot units: what the robot will do if
        nothing changes (with temporal ensembling, the first row may differ from the action taken)."""
        if not self._started or not self._chunks:
            raise RoboVLMsError("policy.planned(): no chunk yet; call step() first")
        start, plan = self._chunks[-1]
        return self.vla.to_robot(plan[self._step - 1 - start :]).float().cpu().numpy()

    def _current(self) -> torch.Tensor:
        """The action for this step from the chunks that cover it (the newest, or their ensemble)."""
        chunk = self.vla.config.model.action_chunk_size
        while self._chunks and self._step - self._chunks[0][0] >= chunk:
            self._chunks.popleft()
        if self.settings.temporal_ensemble:
            covering = [(start, plan) for start, plan in self._chunks if self._step - start < chunk]
        else:
            covering = [self._chunks[-1]]
        predictions = torch.stack([plan[self._step - start] for start, plan in covering])
        weights = torch.exp(-self.settings.ensemble_decay * torch.arange(len(covering), dtype=predictions.dtype))
        mean = (weights.unsqueeze(-1) * predictions).sum(0) / weights.sum()  # oldest weighs most, as in ACT
        return self.vla.to_robot(mean)
