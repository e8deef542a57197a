"""``interplay new-domain``: a new domain folder from the templates, registered, deployed, tested.

Read in order: ``plan`` (what is asked for, checked and named), ``code`` (the source text from
``templates/new_domain``), ``project`` (written into the project and laid out by ruff),
``deploy`` (compose, Helm, Prometheus and the documents generated from the registry).
"""
