"""InternVL (InternVLForConditionalGeneration) as a robovlms backbone."""

__version__ = "0.1.0"
