"""The model layer: the backbone and action-head contracts, the VLA, its streaming policy and its files.

It stands on the plugin machinery and the config, and knows nothing of datasets, training,
environments or serving; those are the applications above it.
"""
