"""Fill in each broker user's password from the environment and write the definitions.

definitions.json keeps no password: every user has an empty ``password_hash``, so a
broker that loaded the file as it is would let no one log in with a password. This
script copies the file and gives each user the ``password`` found in the environment
variable ``<USER>_PASSWORD`` (upper case, ``-`` as ``_``: user ``orders`` reads
``ORDERS_PASSWORD``). RabbitMQ hashes a plain ``password`` when it imports definitions.

    python render_definitions.py definitions.json /etc/rabbitmq/definitions/definitions.json

Stdlib only, so it runs in the plain ``python:3.11-slim`` image (the compose service
``rabbitmq-definitions``) and in the tests.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class MissingPasswordError(RuntimeError):
    """A user in the definitions has no password in the environment."""


def password_variable(user: str) -> str:
    """The environment variable that holds ``user``'s password."""
    return f"{user.upper().replace('-', '_')}_PASSWORD"


def with_passwords(definitions: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """A copy of ``definitions`` whose users carry their password from ``environ``."""
    rendered = json.loads(json.dumps(definitions))
    missing = [
        password_variable(user["name"])
        for user in rendered.get("users", [])
        if not environ.get(password_variable(user["name"]))
    ]
    if missing:
        raise MissingPasswordError(f"set {', '.join(missing)} (see deploy/compose/.env.example)")
    for user in rendered.get("users", []):
        user.pop("password_hash", None)
        user.pop("hashing_algorithm", None)
        user["password"] = environ[password_variable(user["name"])]
    return rendered


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(f"usage: {argv[0]} SOURCE_DEFINITIONS TARGET_DEFINITIONS", file=sys.stderr)
        return 2
    source, target = Path(argv[1]), Path(argv[2])
    try:
        rendered = with_passwords(json.loads(source.read_text()), os.environ)
    except MissingPasswordError as error:
        print(f"render_definitions: {error}", file=sys.stderr)
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(rendered, indent=2) + "\n")
    # The broker runs as another user and only needs to read the file.
    target.chmod(0o644)
    users = ", ".join(user["name"] for user in rendered.get("users", []))
    print(f"render_definitions: wrote {target} with passwords for {users}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
