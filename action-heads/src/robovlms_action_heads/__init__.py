"""robovlms's action heads, registered through entry points.

Nothing is imported here: the entry-point module must stay free of torch so that listing plugins
stays cheap. The heads live in their own modules and are imported when a build names them.
"""

__version__ = "0.1.2"
