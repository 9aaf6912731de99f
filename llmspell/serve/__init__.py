"""The daemon behind `llmspell serve`."""

from .daemon import Clock, Daemon, state_file

__all__ = ["Clock", "Daemon", "state_file"]
