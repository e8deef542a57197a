"""Benchmarks: interplay's cost per hop against plain aio-pika, and flows per second per pattern.

Each benchmark runs plain aio-pika and interplay in turn, in the same run, on a fresh vhost of
the local RabbitMQ; ``python -m benchmarks`` (``make bench``) prints the table and writes JSON.
They are scripts that print figures, never tests: see docs/performance.md for what they mean.
"""
