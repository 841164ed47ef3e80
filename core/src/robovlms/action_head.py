"""Deprecated (plugin API 1.0): use robovlms.model.action_head."""

from robovlms._deprecation import moved

moved(__name__, "robovlms.model.action_head")
