"""Training a VLA: optimizer and schedule, checkpoints and resume, one process or many."""
