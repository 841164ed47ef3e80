"""The legacyhead action head for robovlms."""

__version__ = "0.1.0"
