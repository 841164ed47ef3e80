"""A trained policy over the network: ``robovlms serve`` on the GPU box, :class:`PolicyClient` on the robot.

This package's ``__init__`` imports nothing so that ``robovlms.serving.client`` stays importable on
a robot computer without torch; the server lives in ``robovlms.serving.server``.
"""
