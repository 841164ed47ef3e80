"""``robovlms new-plugin``: a complete plugin distribution, written from the contract the core defines.

The generator knows what a plugin needs (entry point, ``PLUGIN_API``, version ranges, the conformance
tests) and, for a transformers VLM of a pattern the core knows, the adapter itself; it writes TODO
markers only where a person must decide. :mod:`robovlms.scaffold.hookdocs` renders the hookspecs for
the plugin guide, so the guide and the code cannot drift apart.
"""

from __future__ import annotations

from robovlms.scaffold.generate import Generated, new_plugin

__all__ = ["Generated", "new_plugin"]
