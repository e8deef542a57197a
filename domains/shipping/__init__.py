"""The shipping domain."""
