"""The versions the core declares: its own release, and the plugin contract it provides.

Kept apart from ``robovlms/__init__.py`` so that the plugin machinery, at the bottom of the layers,
can read them without importing the package's public surface, which sits above everything.
"""

__version__ = "0.1.4"

#: Version of the plugin contract (hooks and base classes). A plugin declares the version it was
#: written for as ``PLUGIN_API`` in its entry-point module; a different major version is refused.
PLUGIN_API_VERSION = "1.4"
