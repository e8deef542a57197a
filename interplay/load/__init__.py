"""``interplay load``: sample orders on every path at a steady rate, and the report of the flows."""
