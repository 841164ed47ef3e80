"""Meta-World as a robovlms environment: ``robovlms dataset generate OUT --env metaworld``."""

__version__ = "0.1.1"
