"""``robovlms demo``: the main job on the embedded default, from expert data to a closed-loop report."""

from robovlms.demo.pipeline import DemoSize, demo_config, run_demo

__all__ = ["DemoSize", "demo_config", "run_demo"]
