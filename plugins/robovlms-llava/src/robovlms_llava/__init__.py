"""LLaVA-1.5 as a robovlms backbone; the entry point is :mod:`robovlms_llava.plugin`."""

__version__ = "0.1.1"
