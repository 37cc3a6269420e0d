"""aura-sentinel: turn a customer table into a retention plan."""

__version__ = "0.1.0"
