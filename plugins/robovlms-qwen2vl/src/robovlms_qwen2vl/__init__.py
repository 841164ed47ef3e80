"""RoboQwen2VL: Qwen2-VL and Qwen2.5-VL as a robovlms backbone."""

__version__ = "0.1.1"
