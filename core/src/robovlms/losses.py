"""Deprecated (plugin API 1.0): use robovlms.model.losses."""

from robovlms._deprecation import moved

moved(__name__, "robovlms.model.losses")
