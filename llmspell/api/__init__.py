"""The spell API surface, declared once (see registry.py)."""
