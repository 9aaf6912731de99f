"""The package version, in a module of its own so that anything may import it
without importing the package root (and everything the root pulls in)."""

__version__ = "0.1.0"
