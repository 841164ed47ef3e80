"""The built-in tabletop task: pick the block the instruction names, seen from above.

It exists so that data, training and closed-loop evaluation work with no download and on a CPU,
so everything is chosen to make a tiny VLA able to learn it: three big saturated blocks (red,
green, blue) on a plain dark table, each in its own well-separated slot with small jitter, and a
white end-effector cross drawn over them. Only the instruction says which block to take, so a
policy that ignores language succeeds about one time in three. Grasping works when the
effector's center is over the named block (within its square footprint) as the gripper closes.

The expert is a proportional controller clipped at a top speed: at full speed while far (so each
instruction gives its own constant move for most of an episode, the signal a randomly initialised
VLA picks up first), then slowing down, so that it is over the block a step or more before it
closes and a policy closing a step early still grasps. Episodes take 8 to 10 steps.

Colors keep their slots and the start varies little: binding a color word to a position found in
the image, or the move to a position combined with the instruction, is more than a tiny randomly
initialised VLA learns in the demo's few minutes of CPU training (with colors shuffled per
episode it stayed at the language-blind rate; with a wide start it learned one move per
instruction and missed by the start's offset). The instruction decides the target; the image
and the robot state give where the effector is and when to close.

Cameras are named by the dataset feature they are recorded as: ``observation.image`` sees the
table from above, arm included; ``observation.images.wrist`` is a close-up that moves with the
effector (what lies under the gripper, larger); ``observation.images.scene`` sees the table from
above with the arm out of view, so where the effector is shows in the wrist camera (or the state)
only: the variant in which a second camera matters. An observation holds every camera the env was
made with, ``{"images": {camera: frame}, "instruction": ..., "state": ...}``.

Coordinates are in [-1, 1] (x right, y up); only the x and y arm deltas act, z and the rotations
are accepted and ignored. The gripper (the last action value) is open when positive; closing
ends the episode, a success when the end effector is over the named block.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from robovlms.errors import InputError, RoboVLMsError

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (230, 40, 40),
    "green": (40, 200, 60),
    "blue": (50, 90, 240),
}
TEMPLATES: tuple[str, ...] = (
    "pick up the {color} block",
    "grasp the {color} cube",
    "move to the {color} object and close the gripper",
    "grab the {color} block",
    "put the gripper on the {color} cube and grasp it",
)
#: one task per target color, the names ``env.task`` takes, for per-task reports
TASKS: tuple[str, ...] = tuple(f"pick {color}" for color in COLORS)
BACKGROUND = (45, 45, 55)
EFFECTOR = (255, 255, 255)

#: largest arm delta per step and axis
MAX_STEP = 0.15
#: the expert moves this fraction of the remaining way at each step (up to MAX_STEP)
GAIN = 0.5
#: the expert closes once this close to the target's center
CLOSE_RADIUS = 0.06
SLOTS = np.array([[-0.6, 0.45], [0.0, 0.45], [0.6, 0.45]])
SLOT_JITTER = 0.08
BLOCK_HALF = 0.2
START = np.array([0.0, -0.6])
START_JITTER = np.array([0.1, 0.1])
EFFECTOR_HALF = 0.14

TOP = "observation.image"
WRIST = "observation.images.wrist"
SCENE = "observation.images.scene"
#: the cameras the tabletop offers, by feature name
CAMERAS: tuple[str, ...] = (TOP, WRIST, SCENE)
#: half the width of the wrist camera's view, in table units (the top cameras see 1)
WRIST_HALF = 0.35


Observation = dict[str, Any]


class TabletopEnv:
    """``reset(seed)`` then ``step(action)`` until done; ``task`` names the episode for reports."""

    def __init__(
        self, image_size: int = 64, max_steps: int = 30, cameras: tuple[str, ...] | list[str] = (TOP,)
    ) -> None:
        unknown = [c for c in cameras if c not in CAMERAS]
        if unknown or not cameras or len(set(cameras)) != len(cameras):
            raise InputError(f"cameras: got {list(cameras)}; expected distinct names among {', '.join(CAMERAS)}")
        if image_size < 16:
            raise InputError(f"image_size: the tabletop needs at least 16 pixels, got {image_size}")
        if max_steps < 1:
            raise InputError(f"max_steps: expected at least 1, got {max_steps}")
        self.image_size = image_size
        self.cameras = tuple(cameras)
        self.max_steps = max_steps
        self.objects: dict[str, np.ndarray] = {}
        self.target_color = ""
        self.instruction = ""
        self.effector = START.copy()
        self.gripper_open = True
        self.steps = 0
        self.done = True

    @property
    def task(self) -> str:
        """A short name per target color, so results can be reported per task."""
        return f"pick {self.target_color}"

    @property
    def target(self) -> np.ndarray:
        return self.objects[self.target_color]

    def reset(self, seed: int) -> Observation:
        """A new episode, fully determined by ``seed``: layout, target and wording."""
        rng = np.random.default_rng(seed)
        jitter = rng.uniform(-SLOT_JITTER, SLOT_JITTER, size=SLOTS.shape)
        names = list(COLORS)
        self.objects = {name: SLOTS[slot] + jitter[slot] for slot, name in enumerate(names)}
        self.target_color = names[int(rng.integers(len(names)))]
        template = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
        self.instruction = template.format(color=self.target_color)
        self.effector = START + rng.uniform(-1, 1, size=2) * START_JITTER
        self.gripper_open = True
        self.steps = 0
        self.done = False
        return self.observation()

    def step(self, action: np.ndarray) -> tuple[Observation, bool, bool]:
        """Move by the clipped x, y deltas, then grasp if the gripper closes: ``(obs, success, done)``."""
        if self.done:
            raise RoboVLMsError("tabletop: step() after the episode ended; call reset(seed) first")
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (7,) or not np.all(np.isfinite(action)):
            raise InputError(f"tabletop action: expected 7 finite values, got shape {action.shape}")
        self.effector = np.clip(self.effector + np.clip(action[:2], -MAX_STEP, MAX_STEP), -1.0, 1.0)
        self.steps += 1
        success = False
        if action[-1] <= 0:
            self.gripper_open = False
            success = bool(np.all(np.abs(self.effector - self.target) <= BLOCK_HALF))
            self.done = True
        self.done = self.done or self.steps >= self.max_steps
        return self.observation(), success, self.done

    def state(self) -> np.ndarray:
        """End-effector x, y, z (always 0 on this flat table) and gripper (1 open, -1 closed)."""
        return np.array([*self.effector, 0.0, 1.0 if self.gripper_open else -1.0], dtype=np.float32)

    def observation(self) -> Observation:
        images = {camera: self.render(camera) for camera in self.cameras}
        return {"images": images, "instruction": self.instruction, "state": self.state()}

    def render(self, camera: str = TOP) -> np.ndarray:
        """What ``camera`` sees as ``(S, S, 3)`` uint8; every size shows the same scene."""
        size = self.image_size
        image = np.empty((size, size, 3), dtype=np.uint8)
        image[:] = BACKGROUND
        view = _View(self.effector, WRIST_HALF) if camera == WRIST else _View(np.zeros(2), 1.0)
        for color, center in self.objects.items():
            view.fill(image, center, BLOCK_HALF, BLOCK_HALF, COLORS[color])
        if camera == TOP:
            thick = EFFECTOR_HALF / 4
            for half_w, half_h in ((EFFECTOR_HALF, thick), (thick, EFFECTOR_HALF)):
                view.fill(image, self.effector, half_w, half_h, EFFECTOR)
        return image


class _View:
    """A square window on the table: ``center`` and half its width, in table units."""

    def __init__(self, center: np.ndarray, half: float) -> None:
        self.center, self.half = center, half

    def fill(
        self, image: np.ndarray, center: np.ndarray, half_w: float, half_h: float, color: tuple[int, int, int]
    ) -> None:
        """Paint the box around ``center`` (table units); its size in pixels is the same wherever it is."""
        scale = image.shape[0] / (2 * self.half)
        width, height = max(2, round(2 * half_w * scale)), max(2, round(2 * half_h * scale))
        left = round((center[0] - self.center[0] + self.half) * scale - width / 2)
        top = round((self.half - center[1] + self.center[1]) * scale - height / 2)
        image[max(top, 0) : max(top + height, 0), max(left, 0) : max(left + width, 0)] = color


class ScriptedExpert:
    """Privileged demonstrator: a proportional move toward the named block, then close."""

    def act(self, env: TabletopEnv) -> np.ndarray:
        delta = env.target - env.effector
        action = np.zeros(7, dtype=np.float32)
        if np.linalg.norm(delta) <= CLOSE_RADIUS:
            action[-1] = -1.0
        else:
            action[:2] = np.clip(GAIN * delta, -MAX_STEP, MAX_STEP)
            action[-1] = 1.0
        return action
