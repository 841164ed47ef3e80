"""Pictures a person looks at: rollout strips with the instruction and outcome, and loss curves.

Drawn with Pillow alone, so that a report needs no plotting library.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

SCALE = 2
GREEN, RED, WHITE, GREY, DARK = (60, 200, 90), (230, 70, 70), (255, 255, 255), (150, 150, 150), (24, 24, 28)
CAPTION = 16


def rollout_strip(episodes: Sequence[Any], path: Path, frames: int = 6) -> Path:
    """One row per episode: evenly spaced frames, the instruction and the outcome written above."""
    rows = []
    for episode in episodes:
        picks = np.linspace(0, len(episode.frames) - 1, num=min(frames, len(episode.frames))).round().astype(int)
        tiles = [
            Image.fromarray(episode.frames[i]).resize(
                (episode.frames[i].shape[1] * SCALE,) * 2, Image.Resampling.NEAREST
            )
            for i in picks
        ]
        width = sum(t.width for t in tiles) + 4 * (len(tiles) - 1)
        row = Image.new("RGB", (max(width, 320), tiles[0].height + CAPTION), DARK)
        outcome = "success" if episode.success else "failure"
        draw = ImageDraw.Draw(row)
        draw.text(
            (2, 2),
            f'"{episode.instruction}": {outcome} in {episode.length} steps',
            fill=GREEN if episode.success else RED,
        )
        x = 0
        for tile in tiles:
            row.paste(tile, (x, CAPTION))
            x += tile.width + 4
        rows.append(row)
    canvas = Image.new("RGB", (max(r.width for r in rows), sum(r.height + 6 for r in rows)), DARK)
    y = 0
    for row in rows:
        canvas.paste(row, (0, y))
        y += row.height + 6
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path


def loss_curve(metrics: Path, path: Path, size: tuple[int, int] = (560, 320)) -> Path:
    """Training (and validation) loss against step, from a run's metrics.jsonl."""
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    series = {
        "train loss": [(r["step"], r["loss"]) for r in rows if "loss" in r],
        "validation loss": [(r["step"], r["val_loss"]) for r in rows if r.get("val_loss") is not None],
    }
    points = [p for values in series.values() for p in values]
    width, height = size
    left, right, top, bottom = 60, 16, 24, 36
    image = Image.new("RGB", size, WHITE)
    draw = ImageDraw.Draw(image)
    draw.text((left, 4), "loss (log scale) by step", fill=DARK)
    if points:
        steps = [s for s, _ in points]
        logs = [np.log10(max(v, 1e-8)) for _, v in points]
        s0, s1 = min(steps), max(max(steps), min(steps) + 1)
        l0, l1 = min(logs), max(max(logs), min(logs) + 1e-3)

        def xy(step: float, value: float) -> tuple[float, float]:
            x = left + (step - s0) / (s1 - s0) * (width - left - right)
            y = top + (l1 - np.log10(max(value, 1e-8))) / (l1 - l0) * (height - top - bottom)
            return x, y

        draw.rectangle((left, top, width - right, height - bottom), outline=GREY)
        for label, value in ((f"{10**l1:.3g}", 10**l1), (f"{10**l0:.3g}", 10**l0)):
            draw.text((4, xy(s0, value)[1] - 6), label, fill=DARK)
        draw.text((left, height - bottom + 6), f"step {s0}", fill=DARK)
        draw.text((width - right - 70, height - bottom + 6), f"step {s1}", fill=DARK)
        for (label, values), color in zip(series.items(), ((40, 90, 220), (230, 120, 30)), strict=True):
            if len(values) > 1:
                draw.line([xy(s, v) for s, v in values], fill=color, width=2)
            for s, v in values[-1:] if len(values) > 1 else values:
                x, y = xy(s, v)
                draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=color)
            draw.text((width - 170, top + 6 + 14 * list(series).index(label)), label, fill=color)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path
