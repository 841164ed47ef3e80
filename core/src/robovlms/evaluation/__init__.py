"""Closed-loop evaluation of a trained run, with the reference points that make a success rate mean something."""

from robovlms.evaluation.closed_loop import evaluate

__all__ = ["evaluate"]
