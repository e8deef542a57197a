"""The values table of the Helm chart's README, from the ``## @param`` comments of values.yaml.

The chart documents each value where it is set, in the bitnami convention::

    ## @section Image parameters
    ## @param image.repository Image repository (required)
    image:
      repository: ""

This module turns those comments into one Markdown table per section, with each value's default
read from the same file, and writes them below a marker line of the chart's README::

    deploy/helm/chart_readme.py            # rewrite deploy/helm/interplay/README.md
    deploy/helm/chart_readme.py --check    # exit 1 when the README is stale

A test compares the committed README with what this makes, so the table cannot go stale.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parent / "interplay"
MARKER = "<!-- Generated from values.yaml by deploy/helm/chart_readme.py: edit values.yaml -->"
_SECTION = re.compile(r"^\s*## @section (?P<title>.+)$")
_PARAM = re.compile(r"^\s*## @param (?P<path>\S+) (?P<description>.+)$")


def default_of(values: dict[str, Any], path: str) -> Any:
    """The value at a dotted path of values.yaml (keys may not contain dots)."""
    node: Any = values
    for key in path.split("."):
        node = node[key]
    return node


def _cell(value: Any) -> str:
    text = json.dumps(value, separators=(", ", ": ")) if not isinstance(value, str) else value
    return f"`{text}`" if text else '`""`'


def values_tables(values_text: str) -> str:
    """One Markdown table per ``@section``: each parameter, its description, its default."""
    values = yaml.safe_load(values_text)
    lines: list[str] = []
    for line in values_text.splitlines():
        if section := _SECTION.match(line):
            lines += ["", f"### {section['title']}", "", "| Name | Description | Default |"]
            lines.append("| --- | --- | --- |")
        elif param := _PARAM.match(line):
            description = param["description"].replace("|", "\\|")
            default = _cell(default_of(values, param["path"])).replace("|", "\\|")
            lines.append(f"| `{param['path']}` | {description} | {default} |")
    return "\n".join(lines).lstrip("\n") + "\n"


def readme_text(chart: Path = CHART) -> str:
    """The chart README as it should be: its written part, the marker, the generated tables."""
    readme = (chart / "README.md").read_text()
    written = readme.split(MARKER, 1)[0].rstrip("\n")
    return f"{written}\n\n{MARKER}\n\n{values_tables((chart / 'values.yaml').read_text())}"


def main(argv: list[str]) -> int:
    expected = readme_text()
    readme = CHART / "README.md"
    if "--check" in argv:
        if readme.read_text() != expected:
            print(f"{readme} is stale: run deploy/helm/chart_readme.py", file=sys.stderr)
            return 1
        return 0
    readme.write_text(expected)
    print(f"wrote {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
