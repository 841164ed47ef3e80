"""Meta-World's Sawyer tasks behind the robovlms environment contract.

Meta-World acts with ``[dx, dy, dz, grip]`` in [-1, 1], ``grip`` closing when positive; robovlms
speaks 7-DoF with the gripper open when positive. Actions are mapped both ways (rotations are
zero and ignored, the gripper is binary as robovlms trains it). The robot state is the 4-D
proprioception LeRobot's Meta-World setup uses: hand position and how far the fingers are apart.

An episode's seed fixes its task (``tasks[seed % len(tasks)]``), its wording and its layout: the
object and goal positions Meta-World would draw, pulled toward the middle of their range by
``jitter`` (1 is Meta-World's own spread, 0 one fixed layout per task). One simulator and one
renderer serve each task for the environment's whole life.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from robovlms.envs.base import BaseEnvironment, Observation, instruction_for
from robovlms.errors import InputError, RoboVLMsError
from robovlms_metaworld import rendering
from robovlms_metaworld.tasks import EXPERTS, INSTRUCTIONS, environment_id

#: robovlms camera feature -> MuJoCo camera, and whether it renders upside down
CAMERAS: dict[str, tuple[str, bool]] = {
    "observation.images.corner": ("corner", True),
    "observation.images.gripper": ("gripperPOV", False),
}


def to_metaworld(action: np.ndarray) -> np.ndarray:
    """7-DoF robovlms action -> Meta-World's ``[dx, dy, dz, grip]``."""
    grip = 1.0 if action[-1] <= 0 else -1.0
    return np.array([*np.clip(action[:3], -1.0, 1.0), grip], dtype=np.float32)


def from_metaworld(action: np.ndarray) -> np.ndarray:
    """Meta-World's ``[dx, dy, dz, grip]`` -> 7-DoF, zero rotations, gripper open when positive."""
    out = np.zeros(7, dtype=np.float32)
    out[:3] = np.clip(action[:3], -1.0, 1.0)
    out[-1] = 1.0 if action[3] <= 0 else -1.0
    return out


class _Task:
    """One Meta-World task: its simulator (goal observable, for the expert), expert and renderer."""

    def __init__(self, task: str, image_size: int) -> None:
        rendering.backend()  # MUJOCO_GL must be set before mujoco is first imported
        import metaworld.policies
        from metaworld.env_dict import ALL_V3_ENVIRONMENTS

        self.sim = ALL_V3_ENVIRONMENTS[environment_id(task)]()
        self.sim._partially_observable = False  # the expert reads the goal from the flat observation
        del self.sim.sawyer_observation_space  # a cached property that depends on the line above
        self.sim._set_task_called = True
        self.expert = getattr(metaworld.policies, EXPERTS[task])()
        self.camera = rendering.Camera(self.sim.model, image_size)
        space = self.sim._random_reset_space
        assert space is not None  # every v3 task defines where its objects and goal may be
        self.low, self.high = np.asarray(space.low), np.asarray(space.high)
        self.flat: np.ndarray = np.zeros(39)

    def reset(self, rng: np.random.Generator, jitter: float) -> None:
        middle = (self.low + self.high) / 2
        drawn = rng.uniform(self.low, self.high)
        self.sim._last_rand_vec = middle + jitter * (drawn - middle)
        self.sim._freeze_rand_vec = True  # reset uses the vector above instead of drawing its own
        self.flat, _ = self.sim.reset()

    def step(self, action: np.ndarray) -> bool:
        self.flat, _, _, _, info = self.sim.step(action)
        return bool(info["success"])

    def close(self) -> None:
        self.camera.close()
        self.sim.close()


class MetaWorld(BaseEnvironment):
    """Meta-World v3 tasks with their scripted experts, seen from the corner and from the gripper."""

    name = "metaworld"
    TASKS = INSTRUCTIONS
    CAMERAS = tuple(CAMERAS)
    DEFAULT_CAMERAS = CAMERAS  # both: the corner sees the scene, the gripper what it is about to grasp
    STATE = ("x", "y", "z", "gripper_opening")
    FPS = 80  # Meta-World's control rate: 5 physics steps of 2.5 ms
    HAS_EXPERT = True

    def __init__(
        self,
        *,
        tasks: Sequence[str] | None = None,
        cameras: Sequence[str] | None = None,
        image_size: int = 64,
        max_steps: int = 150,
        jitter: float = 1.0,
    ) -> None:
        super().__init__(tasks=tasks, cameras=cameras, image_size=image_size)
        if not 16 <= image_size <= 480:
            raise InputError(f"metaworld image_size: expected 16 to 480 pixels, got {image_size}")
        if not 1 <= max_steps <= 500:
            raise InputError(f"metaworld max_steps: expected 1 to 500 (Meta-World's own limit), got {max_steps}")
        if not 0.0 <= jitter <= 1.0:
            raise InputError(f"metaworld jitter: expected 0 to 1 (a fraction of Meta-World's spread), got {jitter}")
        self.max_steps, self.jitter = max_steps, jitter
        self._tasks: dict[str, _Task] = {}
        self._current: _Task | None = None
        self.steps = 0
        self.done = True

    def task_of(self, seed: int) -> str:
        return self.tasks[seed % len(self.tasks)]

    def reset(self, seed: int) -> Observation:
        self.task = self.task_of(seed)
        # the layout's stream depends on the task too: tasks sharing a scene get different goals
        digest = hashlib.sha256(f"{self.task}:{seed}".encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        self.instruction = instruction_for(self.TASKS[self.task], rng)
        if self.task not in self._tasks:
            self._tasks[self.task] = _Task(self.task, self.image_size)
        self._current = self._tasks[self.task]
        self._current.reset(rng, self.jitter)
        self.steps, self.done = 0, False
        return self.observation()

    def step(self, action: np.ndarray) -> tuple[Observation, bool, bool]:
        if self.done or self._current is None:
            raise RoboVLMsError("metaworld: step() after the episode ended; call reset(seed) first")
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (7,) or not np.all(np.isfinite(action)):
            raise InputError(f"metaworld action: expected 7 finite values, got shape {action.shape}")
        success = self._current.step(to_metaworld(action))
        self.steps += 1
        self.done = success or self.steps >= self.max_steps
        return self.observation(), success, self.done

    def expert_action(self) -> np.ndarray:
        if self._current is None:
            raise RoboVLMsError("metaworld: expert_action() before reset(seed)")
        return from_metaworld(self._current.expert.get_action(self._current.flat))

    def observation(self) -> Observation:
        """What the cameras see now, with the instruction and the 4-D state."""
        assert self._current is not None
        images: dict[str, Any] = {}
        for feature in self.cameras:
            camera, upside_down = CAMERAS[feature]
            images[feature] = self._current.camera.frame(self._current.sim.data, camera, upside_down=upside_down)
        state = np.asarray(self._current.flat[:4], dtype=np.float32)
        return {"images": images, "instruction": self.instruction, "state": state}

    def close(self) -> None:
        for task in self._tasks.values():
            task.close()
        self._tasks.clear()
        self._current = None
