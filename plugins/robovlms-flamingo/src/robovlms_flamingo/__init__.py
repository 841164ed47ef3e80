"""RoboFlamingo: the Idefics (Flamingo) vision-language model as a robovlms backbone."""

__version__ = "0.1.2"
