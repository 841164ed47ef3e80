"""The training loop behind ``robovlms train``.

One optimizer step consumes ``training.batch_size`` windows in all, split over processes and
gradient-accumulation micro-batches. The order of the data is a function of the seed and the
epoch alone, so a resumed run replays exactly the batches an uninterrupted run would have seen,
and with the optimizer, schedule and random state restored it ends with the same weights.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Sampler

from robovlms.config import Config, config_from_dict
from robovlms.datasets.windows import TrainingData, open_training_data
from robovlms.errors import CheckpointError, ConfigError, RoboVLMsError, TrainingError
from robovlms.model.normalization import ActionNormalizer
from robovlms.model.vla import VLA, build_vla
from robovlms.training import distributed, snapshots
from robovlms.training.optim import make_optimizer, make_scheduler

RUN_FILE = "run.json"


class EpochSampler(Sampler[int]):
    """This rank's share of a seeded permutation, from micro-batch ``start`` of the epoch on."""

    def __init__(self, size: int, *, seed: int, rank: int, world: int, micro_batch: int) -> None:
        self.size, self.seed, self.rank, self.world, self.micro_batch = size, seed, rank, world, micro_batch
        self.epoch, self.start = 0, 0

    def batches_per_epoch(self) -> int:
        return self.size // (self.world * self.micro_batch)

    def __iter__(self) -> Iterator[int]:
        order = torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed + self.epoch)).tolist()
        # global micro-batch i holds order[i*world*mb : (i+1)*world*mb]; this rank takes its slice of each
        for batch in range(self.start, self.batches_per_epoch()):
            base = batch * self.world * self.micro_batch + self.rank * self.micro_batch
            yield from order[base : base + self.micro_batch]

    def __len__(self) -> int:
        return (self.batches_per_epoch() - self.start) * self.micro_batch


def _prepare_output(output: Path, config: Config, resume: bool, world: distributed.World) -> None:
    record = output / RUN_FILE
    if record.is_file():
        previous = json.loads(record.read_text())
        if not resume:
            raise RoboVLMsError(
                f"{output} already holds a run; pass --resume to continue it, or choose another --output"
            )
        saved, now = config_from_dict(previous["config"]).model_dump(), config.model_dump()
        # how long to train may change on resume; what is trained may not
        differs = [
            f"{s}.{k}" for s in now for k in now[s] if saved[s][k] != now[s][k] and (s, k) != ("training", "max_steps")
        ]
        if differs:
            raise RoboVLMsError(
                f"{output} holds a different run ({', '.join(differs[:3])} differ); choose another --output"
            )
        return
    if output.exists() and any(output.iterdir()):
        raise RoboVLMsError(f"{output} is not empty and holds no robovlms run; choose an empty or new --output")
    if resume:
        raise RoboVLMsError(f"{output} holds no run to resume; drop --resume to start one")
    world.barrier()  # every rank has checked before rank 0 creates the run
    if world.main:
        output.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"config": config.model_dump()}, indent=2))


def precision_autocast(precision: str, device: torch.device) -> Any:
    """The autocast context of a ``training.precision`` on ``device`` (fp32: none)."""
    if precision == "fp32":
        return nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    if device.type == "cpu" and precision == "fp16":
        raise ConfigError("training.precision: fp16 needs a GPU; use bf16 or fp32 on a CPU")
    return torch.autocast(device.type, dtype=dtype)


class Trainer:
    """Trains ``config`` into ``output``; ``run()`` returns the final metrics.

    Construction checks everything that can be checked before a step is taken (the batch split,
    the precision, the output folder, the data) and builds the model and optimizer, then restores
    the last snapshot when resuming.
    """

    def __init__(self, config: Config, output: Path, *, resume: bool = False, progress: bool = True) -> None:
        if config.data.path is None:
            raise ConfigError("data.path: set it to a dataset folder (robovlms dataset generate OUT makes one)")
        self.config, self.output, self.progress = config, output, progress
        self.world = distributed.setup()
        self.micro_batch = self._micro_batch()
        precision_autocast(config.training.precision, self.world.device)  # fp16 on a CPU fails now, not at step 1
        _prepare_output(output, config, resume, self.world)
        self.data = open_training_data(config)
        self.vla = self._build_model(self.data)
        self.model = distributed.wrap(self.vla, self.world, config.training.strategy)
        self.sampler = self._sampler()
        self.steps_per_epoch = self.sampler.batches_per_epoch() // config.training.gradient_accumulation_steps
        self.total_steps = config.training.max_steps or config.training.epochs * self.steps_per_epoch
        self.optimizer = make_optimizer(self.vla, config.training)
        self.scheduler = make_scheduler(self.optimizer, config.training, self.total_steps)
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.sharded = config.training.strategy == "fsdp" and self.world.size > 1
        self._unsharded: VLA | None = None
        if resume:
            if self.sharded:
                raise ConfigError("training.strategy: --resume is not supported with fsdp yet; resume with ddp")
            self._resume()

    # -- setup -----------------------------------------------------------------------------------

    def _micro_batch(self) -> int:
        """Windows per forward pass on each process: the global batch over processes and accumulation."""
        training = self.config.training
        per_step = self.world.size * training.gradient_accumulation_steps
        if training.batch_size % per_step:
            raise ConfigError(
                f"training.batch_size {training.batch_size} must divide evenly over {self.world.size} processes "
                f"x {training.gradient_accumulation_steps} accumulation steps"
            )
        return training.batch_size // per_step

    def _build_model(self, data: TrainingData) -> VLA:
        """The VLA, with its action (and state) normalisation fitted to the training data, on the device."""
        model = self.config.model
        torch.manual_seed(self.config.training.seed)
        normalizer = ActionNormalizer.from_statistics(
            data.statistics, mode=model.action_normalization, clip=model.clip_actions, provenance=data.provenance
        )
        vla = build_vla(self.config, normalizer=normalizer)
        features = data.train.dataset.features
        vla.camera_sizes = {key: (features[key]["shape"][0], features[key]["shape"][1]) for key in vla.cameras}
        if vla.state_encoder is not None:
            assert data.state_statistics is not None  # open_training_data reads them when data.state_key is set
            vla.state_encoder.fit(data.state_statistics)
        return vla.to(self.world.device).train()

    def _sampler(self) -> EpochSampler:
        training = self.config.training
        sampler = EpochSampler(
            len(self.data.train),
            seed=training.seed,
            rank=self.world.rank,
            world=self.world.size,
            micro_batch=self.micro_batch,
        )
        if sampler.batches_per_epoch() < training.gradient_accumulation_steps:
            raise ConfigError(
                f"training.batch_size {training.batch_size} is larger than the {len(self.data.train)} training windows"
            )
        return sampler

    # -- state -----------------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
        }

    def _resume(self) -> None:
        """Continue from the newest intact snapshot, saying which damaged ones were passed over."""
        if self.world.main:
            snapshots.remove_unfinished(self.output)
        self.world.barrier()
        found = snapshots.snapshots(self.output)
        if not found:
            return  # interrupted before the first snapshot: start over
        state, damaged = None, []
        for path in reversed(found):
            try:
                state = snapshots.load_snapshot(path, self.vla)
                break
            except CheckpointError as exc:
                damaged.append(f"{path.name} ({exc})")
        if state is None:
            raise CheckpointError(f"{self.output}: no intact checkpoint to resume from; damaged: {'; '.join(damaged)}")
        if damaged and self.world.main:
            print(f"resume: passed over damaged {', '.join(damaged)}; resuming from {path.name}", file=sys.stderr)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        snapshots.set_rng_state(state["rng"])
        if self.world.main:
            _forget_metrics_after(self.output / "metrics.jsonl", self.step)

    def _savable(self) -> VLA | None:
        """The model with full weights, on rank 0: the VLA itself, or under FSDP an unsharded copy.

        With FSDP every rank must take part in gathering the weights, so all ranks call this.
        """
        if not self.sharded:
            return self.vla
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        full = get_model_state_dict(self.vla, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        if not self.world.main:
            return None
        if self._unsharded is None:
            self._unsharded = build_vla(self.config, normalizer=self.vla.normalizer)
        self._unsharded.load_state_dict(full)
        return self._unsharded

    def _snapshot(self) -> None:
        model = self._savable()
        if self.world.main:
            assert model is not None  # rank 0 always holds the full weights
            # sharded optimizer state stays out of FSDP snapshots: they hold the unsharded weights only
            state = {k: v for k, v in self._state().items() if not (self.sharded and k == "optimizer")}
            snapshots.save_snapshot(self.output, self.step, model, state, keep=self.config.training.keep_checkpoints)
        self.world.barrier()

    # -- loop ------------------------------------------------------------------------------------

    def _loader(self) -> DataLoader:
        return DataLoader(
            self.data.train,
            batch_size=self.micro_batch,
            sampler=self.sampler,
            collate_fn=self.data.collate,
            num_workers=self.config.data.num_workers,
            generator=torch.Generator(),  # the loader's seed must not consume the global stream dropout uses
        )

    def _to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {k: v.to(self.world.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

    @torch.no_grad()
    def validate(self) -> float | None:
        if self.data.validation is None or len(self.data.validation) == 0:
            return None
        self.vla.eval()
        loader = DataLoader(self.data.validation, batch_size=max(1, self.micro_batch), collate_fn=self.data.collate)
        total, count = 0.0, 0
        for batch in loader:
            with precision_autocast(self.config.training.precision, self.world.device):
                total += self.vla(**self._to_device(batch))["loss"].item() * len(batch["instructions"])
            count += len(batch["instructions"])
        self.vla.train()
        return total / max(count, 1)

    def _forward_backward(self, batch: dict[str, Any], sync: bool) -> tuple[list[str], torch.Tensor]:
        """One micro-batch: the losses' names and their values (float64, divided for accumulation)."""
        training = self.config.training
        accumulation = training.gradient_accumulation_steps
        no_sync = getattr(self.model, "no_sync", None)  # DDP's: skip the all-reduce until the last micro-batch
        context = no_sync() if not sync and no_sync is not None else nullcontext()
        with context, precision_autocast(training.precision, self.world.device):
            out = self.model(**batch)
            (out["loss"] / accumulation).backward()
        keys = [key for key in out if key.endswith("loss")]
        # kept on the device: read once per optimizer step, not once per loss and micro-batch
        return keys, torch.stack([out[key].detach().double() for key in keys]) / accumulation

    def _optimizer_step(self, losses: dict[str, float]) -> None:
        """Clip, step and schedule; a non-finite loss or gradient stops the run before it reaches the weights."""
        clip = self.config.training.gradient_clip
        norm = torch.nn.utils.clip_grad_norm_(self.vla.parameters(), clip if clip is not None else math.inf)
        bad = [name for name, value in losses.items() if not math.isfinite(value)]
        if bad or not torch.isfinite(norm):
            what = f"the {', '.join(bad)} is {losses[bad[0]]}" if bad else f"the gradient norm is {norm.item()}"
            kept = snapshots.snapshots(self.output)
            last = f"the last good checkpoint, {kept[-1].name}, is intact" if kept else "no checkpoint was written yet"
            raise TrainingError(
                f"step {self.step + 1}: {what}; training stopped before the weights took it ({last}; "
                "try a lower training.learning_rate, or gradient clipping)"
            )
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1

    def _after_step(self, metrics: dict[str, Any], logger: _Logger) -> None:
        """Validation, the metrics line and the snapshot that are due at this step."""
        training = self.config.training
        final = self.step == self.total_steps
        if self.step % (training.eval_every or self.steps_per_epoch) == 0 or final:
            metrics["val_loss"] = self.validate()
        logger.log(metrics, force=self.step % training.log_every == 0 or "val_loss" in metrics)
        if self.step % (training.checkpoint_every or self.steps_per_epoch) == 0 or final:
            self._snapshot()

    def _epoch(self, logger: _Logger) -> dict[str, Any]:
        """The rest of the current epoch (or up to the last step); the last step's metrics."""
        accumulation = self.config.training.gradient_accumulation_steps
        self.sampler.epoch, self.sampler.start = self.epoch, self.batch_in_epoch
        last: dict[str, Any] = {}
        tick, samples, sums = time.perf_counter(), 0, None
        for index, batch in enumerate(self._loader(), start=1):
            batch = self._to_device(batch)
            sync = index % accumulation == 0
            keys, losses = self._forward_backward(batch, sync)
            samples += len(batch["instructions"]) * self.world.size
            sums = losses if sums is None else sums + losses
            self.batch_in_epoch += 1
            if not sync:
                continue
            last = dict(zip(keys, self.world.mean(sums), strict=True))
            self._optimizer_step(last)
            last.update(step=self.step, epoch=self.epoch, lr=self.scheduler.get_last_lr()[0])
            last["samples_per_s"] = samples / max(time.perf_counter() - tick, 1e-9)
            tick, samples, sums = time.perf_counter(), 0, None
            self._after_step(last, logger)
            if self.step >= self.total_steps:
                return last
        self.epoch, self.batch_in_epoch = self.epoch + 1, 0
        return last

    def run(self) -> dict[str, Any]:
        training = self.config.training
        logger = _Logger(self.output, self.world, self.total_steps, self.step, self.progress)
        logger.note(effective_batch_size=training.batch_size, processes=self.world.size, micro_batch=self.micro_batch)
        last: dict[str, Any] = {}
        while self.step < self.total_steps:
            last = self._epoch(logger) or last
        model = self._savable()
        if self.world.main:
            assert model is not None
            model.save_pretrained(self.output)
        logger.close()
        self.world.barrier()
        distributed.teardown(self.world)
        return last


def _forget_metrics_after(metrics: Path, step: int) -> None:
    """Drop the lines of steps after ``step``: a resumed run logs them again, and a step appears once."""
    if not metrics.is_file():
        return
    kept = []
    for line in metrics.read_text().splitlines():
        try:
            logged = json.loads(line).get("step", 0)
        except (ValueError, AttributeError):
            continue  # a line cut off by the kill
        if not isinstance(logged, int) or logged <= step:
            kept.append(line)
    metrics.write_text("".join(f"{line}\n" for line in kept))


class _Logger:
    """metrics.jsonl (and TensorBoard when installed) plus a progress bar, on rank 0 only."""

    def __init__(self, output: Path, world: distributed.World, total: int, done: int, progress: bool) -> None:
        self.enabled = world.main
        self.file = (output / "metrics.jsonl").open("a") if self.enabled else None
        self.bar = None
        self.board = None
        if self.enabled and progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=done, unit="step", dynamic_ncols=True)
        if self.enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.board = SummaryWriter(str(output / "tensorboard"))
            except ImportError:
                pass

    def note(self, **values: Any) -> None:
        if self.file:
            self.file.write(json.dumps({"event": "start", **values}) + "\n")

    def log(self, metrics: dict[str, Any], *, force: bool) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(
                loss=f"{metrics.get('loss', math.nan):.4f}",
                lr=f"{metrics['lr']:.2e}",
                samples_s=f"{metrics['samples_per_s']:.1f}",
            )
        if force and self.file:
            self.file.write(json.dumps(metrics) + "\n")
            self.file.flush()
            if self.board is not None:
                for key, value in metrics.items():
                    if isinstance(value, (int, float)) and key not in ("step", "epoch"):
                        self.board.add_scalar(key, value, metrics["step"])

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.file:
            self.file.close()
        if self.board is not None:
            self.board.close()


def train(config: Config, output: str | Path, *, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train ``config`` into ``output``: checkpoints, metrics.jsonl, and the final VLA for from_pretrained."""
    return Trainer(config, Path(output), resume=resume, progress=progress).run()
