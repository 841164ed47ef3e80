"""RoboKosmos2: Microsoft's Kosmos-2, the backbone of RoboVLMs' best results, as a robovlms backbone."""

__version__ = "0.1.1"
