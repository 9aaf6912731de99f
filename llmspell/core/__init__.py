"""Engine-independent core: tools, hooks, events."""
