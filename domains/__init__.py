"""The reference domains. Each folder is one domain a user can copy; ``registry`` lists them.

A domain may import another domain's ``events.py`` (the published contracts) and nothing else
of it.
"""
