"""The config schema: one pydantic model per section, loaded from JSON.

Every key of the RoboVLMs tutorial configs keeps its name and meaning, so configs written for it
validate unchanged. Unknown keys, wrong types and contradictions are errors that name the dotted
key; a section that is left out takes its defaults.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from robovlms.errors import ECHO, ConfigError, first_line, shown

HistoryMode = Literal["one_step", "interleaved", "policy_head"]

# Upper bounds: sizes beyond these are typos or attacks, and would fail (or exhaust memory) only
# once training has started; validation refuses them with the key's name instead.
MAX_FRAMES = 1024  # history windows, chunks
MAX_TOKENS = 256  # action tokens per frame
MAX_VECTOR = 1024  # action and state lengths
MAX_WIDTH = 65536  # hidden sizes, bins, heads, LoRA rank, instruction tokens
MAX_LAYERS = 256
MAX_IMAGE = 4096  # pixels per side
MAX_COUNT = 10**9  # steps, epochs, batch sizes
#: deepest nesting a config file may have (a config is three levels deep)
MAX_DEPTH = 32


class Section(BaseModel):
    """Base of every section: unknown keys are errors, and assignments are validated too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class ModelConfig(Section):
    backbone: str = Field("paligemma", description="name of an installed robovlms.backbones plugin")
    action_head: str = Field(
        "lstm", description="name of an installed robovlms.action_heads plugin (also accepted as action_head.type)"
    )
    history_length: int = Field(16, ge=1, le=MAX_FRAMES, description="frames in the history window")
    action_chunk_size: int = Field(10, ge=1, le=MAX_FRAMES, description="future actions predicted at each step")
    history_mode: HistoryMode = Field(
        "policy_head",
        description="one_step: current frame only; interleaved: the window as one sequence through "
        "the language model; policy_head: each frame on its own, the head fuses the window",
    )
    num_action_tokens: int = Field(1, ge=1, le=MAX_TOKENS, description="learnable action tokens appended to each frame")
    action_dim: int = Field(7, ge=2, le=MAX_VECTOR, description="arm values plus one gripper (the last dimension)")
    state_dim: int | None = Field(
        None,
        ge=1,
        le=MAX_VECTOR,
        description="length of the robot state fed beside each frame (data.state_key); null: none",
    )
    action_normalization: Literal["quantile", "quantile_dataset", "minmax", "none"] = Field(
        "quantile",
        description="map arm values to [-1, 1] by the 1st/99th percentiles of the data (computed by robovlms), "
        "by those in the dataset's meta/stats.json (quantile_dataset), by min/max, or not at all",
    )
    clip_actions: bool = Field(True, description="clip normalized arm targets and predictions to [-1, 1]")


class TrainingConfig(Section):
    batch_size: int = Field(128, ge=1, le=MAX_COUNT)
    learning_rate: float = Field(1e-4, gt=0)
    epochs: int = Field(5, ge=1, le=MAX_COUNT)
    warmup_ratio: float = Field(0.0, ge=0, le=1)
    weight_decay: float = Field(0.0, ge=0)
    gradient_clip: float | None = Field(1.0, gt=0, description="max gradient norm; null turns clipping off")
    lr_scheduler: Literal["cosine", "constant"] = "cosine"
    gradient_accumulation_steps: int = Field(1, ge=1, le=MAX_COUNT)
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    gradient_checkpointing: bool = False
    freeze_vision_tower: bool = True
    freeze_language_model: bool = False
    freeze_embeddings: bool = False
    freeze_action_head: bool = Field(False, description="keep the head fixed, e.g. to adapt only the backbone")
    seed: int = Field(0, ge=0, lt=2**63, description="seeds weights, data order and dropout")
    lora_rank: int = Field(
        0, ge=0, le=MAX_WIDTH, description="LoRA adapters of this rank on the language model; 0 is off"
    )
    lora_alpha: float = Field(16.0, gt=0, description="LoRA scaling numerator (scale = alpha / rank)")
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    lora_targets: list[str] = Field(
        default_factory=lambda: ["q_proj", "v_proj"], min_length=1, description="language-model modules to adapt"
    )
    max_steps: int | None = Field(
        None, ge=1, le=MAX_COUNT, description="stop after this many optimizer steps (default: all epochs)"
    )
    log_every: int = Field(10, ge=1, le=MAX_COUNT, description="steps between lines in metrics.jsonl")
    eval_every: int | None = Field(
        None, ge=1, le=MAX_COUNT, description="steps between validation passes (default: each epoch)"
    )
    checkpoint_every: int | None = Field(
        None, ge=1, le=MAX_COUNT, description="steps between checkpoints (default: each epoch)"
    )
    keep_checkpoints: int = Field(2, ge=1, le=1000, description="how many of the latest checkpoints to keep")
    strategy: Literal["ddp", "fsdp"] = Field(
        "ddp", description="multi-process training: replicate the model (ddp) or shard it (fsdp)"
    )


class ActionHeadConfig(Section):
    """The head's settings; which head it is lives in ``model.action_head`` (``type`` here is read into it)."""

    @model_validator(mode="before")
    @classmethod
    def _name_lives_in_model(cls, data: Any) -> Any:
        """A section built on its own (``ActionHeadConfig(type=...)``, as plugin API 1.0 tests do) may
        still name the head; the name is not a setting of the head, so it is not kept here."""
        if isinstance(data, dict) and "type" in data:
            data = {k: v for k, v in data.items() if k != "type"}
        return data

    hidden_size: int = Field(512, ge=1, le=MAX_WIDTH)
    num_layers: int = Field(2, ge=1, le=MAX_LAYERS)
    dropout: float = Field(0.1, ge=0, lt=1)
    num_heads: int = Field(4, ge=1, le=MAX_WIDTH, description="attention heads, for heads that attend (gpt)")
    arm_loss: Literal["huber", "mse"] = "huber"
    gripper_loss_weight: float = Field(0.01, ge=0, description="weight of the gripper's binary cross-entropy")
    bins: int = Field(256, ge=2, le=MAX_WIDTH, description="bins per action dimension, for discrete heads")
    num_inference_steps: int = Field(
        10, ge=1, le=1000, description="Euler steps from noise to a chunk, for flow-matching heads (flow)"
    )
    time_sampling: Literal["beta", "uniform"] = Field(
        "beta",
        description="how flow-matching heads draw the training time t: pi0's Beta(1.5, 1), which favours noisy "
        "inputs, or uniform on [0, 1]",
    )


class InferenceConfig(Section):
    execute_steps: int = Field(
        1, ge=1, le=MAX_FRAMES, description="actions of each predicted chunk run before asking again"
    )
    temporal_ensemble: bool = Field(False, description="average the overlapping chunks' predictions for a step")
    ensemble_decay: float = Field(0.1, ge=0, description="weight exp(-decay * age) of older chunks when ensembling")


class VLMConfig(Section):
    model_name: str | None = Field(None, description="hub id or local directory, loaded with from_pretrained")
    preset: str | None = Field(None, description="named architecture with random weights, e.g. tiny or full")
    image_size: int | None = Field(
        None, ge=8, le=MAX_IMAGE, description="input resolution; null takes the checkpoint's or preset's own"
    )
    max_length: int = Field(512, ge=1, le=MAX_WIDTH, description="longest tokenized instruction")
    temperature: float = Field(1.0, ge=0)
    trust_remote_code: bool = Field(False, description="allow a checkpoint's own Python code to run")

    @model_validator(mode="after")
    def _one_source(self) -> VLMConfig:
        if self.model_name is not None and self.preset is not None:
            raise ValueError("set either vlm.model_name or vlm.preset, not both")
        return self


class DataConfig(Section):
    path: str | None = Field(None, description="dataset folder in the LeRobot v3 layout")
    image_keys: list[str] = Field(
        default_factory=lambda: ["observation.image"],
        min_length=1,
        description="camera features, each one read by the model; the first fills the prompt's image placeholders",
    )
    action_key: str = Field("action", description="feature holding the 7-DoF action")
    state_key: str | None = Field(
        None, description="feature holding the robot state; set with model.state_dim for the model to take it"
    )
    validation_split: float = Field(0.1, ge=0, lt=1, description="fraction of episodes held out for validation")
    num_workers: int = Field(0, ge=0, le=256, description="data-loading worker processes")
    environment: str | None = Field(
        None, description="environment the dataset was recorded in (robovlms eval's default); null: from the dataset"
    )
    tasks: list[str] | None = Field(None, description="its tasks the run was trained on; null: from the dataset")
    environment_options: dict[str, Any] | None = Field(
        None,
        description="the environment's options the dataset was recorded with (Meta-World's jitter, max_steps; "
        "robovlms eval's default); null: from the dataset",
    )

    @model_validator(mode="after")
    def _distinct_cameras(self) -> DataConfig:
        repeated = sorted({key for key in self.image_keys if self.image_keys.count(key) > 1})
        if repeated:
            raise ValueError(f"data.image_keys names camera {shown(repeated[0])} twice; each camera once")
        return self


class Config(Section):
    model: ModelConfig = Field(default_factory=ModelConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    action_head: ActionHeadConfig = Field(default_factory=ActionHeadConfig)
    vlm: VLMConfig = Field(default_factory=VLMConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    inference: InferenceConfig = Field(default_factory=InferenceConfig)

    @model_validator(mode="before")
    @classmethod
    def _one_head_name(cls, data: Any) -> Any:
        """The head's name may be written as ``model.action_head`` or ``action_head.type`` (the seed
        uses both, and null in either means "not said here"); the validated config holds it once, as
        ``model.action_head``."""
        if not isinstance(data, dict):
            return data
        model, head = data.get("model", {}), data.get("action_head", {})
        if not isinstance(model, dict) or not isinstance(head, dict):
            return data  # "expected an object" is reported by the section itself
        model, head = dict(model), dict(head)
        given, typed = model.pop("action_head", None), head.pop("type", None)
        if given is not None and typed is not None and given != typed:
            raise ValueError(
                f"model.action_head is {shown(given)} but action_head.type is {shown(typed)}; "
                "they must name the same head"
            )
        if given is not None or typed is not None:
            model["action_head"] = given if given is not None else typed
        data = {**data, "model": model}
        if "action_head" in data or head:
            data["action_head"] = head
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        """Keys of different sections that must agree: the robot state's length and feature, and a
        policy's steps per chunk."""
        state_dim, state_key = self.model.state_dim, self.data.state_key
        if state_key is not None and state_dim is None:
            raise ValueError(
                f"data.state_key is {shown(state_key)} but model.state_dim is null; "
                "set model.state_dim to the state's length for the model to take it"
            )
        if state_dim is not None and state_key is None:
            raise ValueError(
                f"model.state_dim is {state_dim} but data.state_key is null; "
                "name the dataset feature holding the robot state, e.g. observation.state"
            )
        if self.inference.execute_steps > self.model.action_chunk_size:
            raise ValueError(
                f"inference.execute_steps is {self.inference.execute_steps} but model.action_chunk_size is "
                f"{self.model.action_chunk_size}; a policy cannot run more actions than a chunk holds"
            )
        return self


def _dotted(loc: tuple[Any, ...]) -> str:
    dotted = ".".join(str(part) for part in loc) or "config"
    return dotted if len(dotted) <= ECHO else dotted[: ECHO - 3] + "..."


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    section: type[BaseModel] = Config
    for part in loc[:-1]:
        field = section.model_fields.get(str(part))
        if field is None or not isinstance(field.annotation, type) or not issubclass(field.annotation, BaseModel):
            return []
        section = field.annotation
    return list(section.model_fields)


def _describe(error: Mapping[str, Any]) -> str:
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(loc)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{_dotted(loc)}: unknown key{hint} (allowed: {', '.join(allowed)})"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "model_type":
        return f"{_dotted(loc)}: expected an object (got {shown(error['input'])})"
    if "input" in error and error["type"] not in {"value_error", "assertion_error"}:
        return f"{_dotted(loc)}: {message} (got {shown(error['input'])})"
    return f"{_dotted(loc)}: {message}" if loc else message


def config_from_dict(data: Any) -> Config:
    """Validate a parsed config; raise :class:`ConfigError` with one line per problem."""
    if not isinstance(data, dict):
        raise ConfigError(f"config: expected a JSON object at the top level (got {type(data).__name__})")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([_describe(e) for e in exc.errors()]) from None


def apply_overrides(config: Config, overrides: list[str]) -> Config:
    """``SECTION.KEY=VALUE`` overrides (VALUE read as JSON, else as a string) on top of ``config``."""
    data = config.model_dump(exclude_unset=True)  # what the user wrote: derived values are derived again
    for item in overrides:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) != 2 or not all(parts):
            raise ConfigError(f"--set {shown(item)}: expected SECTION.KEY=VALUE, e.g. training.epochs=3")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        section = data.setdefault(parts[0], {})
        if not isinstance(section, dict):
            raise ConfigError(f"--set {shown(item)}: {shown(parts[0])} is not a config section")
        section[parts[1]] = value
    return config_from_dict(data)


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value`` (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in children)
    return deepest


def load_config(source: str | Path | dict[str, Any]) -> Config:
    """Load a config from a JSON file (or an already parsed dict) and validate it."""
    if isinstance(source, dict):
        return config_from_dict(source)
    path = Path(source)
    if not path.exists():
        raise ConfigError(f"{path}: no such config file")
    if not path.is_file():  # a directory, or a FIFO that would block the read forever
        raise ConfigError(f"{path}: not a regular file; expected a JSON config")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:  # integers of thousands of digits; absurd nesting
        raise ConfigError(f"{path}: invalid JSON: {first_line(exc)}") from None
    if _depth(data) > MAX_DEPTH:
        raise ConfigError(f"{path}: nested deeper than {MAX_DEPTH} levels; a config is three levels deep")
    try:
        return config_from_dict(data)
    except ConfigError as exc:
        raise ConfigError([f"{path}: {problem}" for problem in exc.problems]) from None
