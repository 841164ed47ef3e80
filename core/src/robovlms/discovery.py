"""Deprecated (plugin API 1.0): use robovlms.plugins.discovery."""

from robovlms._deprecation import moved

moved(__name__, "robovlms.plugins.discovery")
