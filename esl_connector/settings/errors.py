"""The one error settings raise: every problem of a configuration, each with its key path."""

from __future__ import annotations


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` lists each as 'key: why'."""

    def __init__(self, problems: list[str], source: str = ""):
        self.problems = problems
        self.source = source
        where = f" in {source}" if source else ""
        super().__init__(f"{len(problems)} configuration error(s){where}: " + "; ".join(problems))
