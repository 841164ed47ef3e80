"""Environments a policy acts in, closed loop: the built-in tabletop task (numpy only, no download)."""
