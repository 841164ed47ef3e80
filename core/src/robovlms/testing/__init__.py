"""The conformance suites a plugin's tests subclass: ``BackboneConformance`` and ``HeadConformance``.

They are pytest classes, so this package needs pytest, which the core installs only with its
``testing`` extra (``pip install 'robovlms[testing]'``); a plugin lists that extra in its own test
dependencies. Without it, importing this package says so in one line.
"""

try:
    import pytest  # noqa: F401  (the suites below are pytest classes)
except ImportError:  # pragma: no cover - exercised in an environment without pytest
    raise ImportError(
        "robovlms.testing needs pytest, which robovlms installs with its testing extra: pip install 'robovlms[testing]'"
    ) from None

from robovlms.testing.backbone_suite import BackboneConformance
from robovlms.testing.head_suite import HeadConformance

__all__ = ["BackboneConformance", "HeadConformance"]
