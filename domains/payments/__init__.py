"""Payments: authorise and capture card payments; void and refund them."""
