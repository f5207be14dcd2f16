"""Every route of the URLconf, for tests that must cover routes added later without being edited.

`ROUTES` is computed at import (collection) time from Django's resolver; a
test parametrizes over it and turns a route into a URL with `Route.url()`,
filling each parameter from a dict of real values (a project slug, a key's
public id, an admin object's pk...).
"""

import re
from dataclasses import dataclass

import django
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern

django.setup()

_ROUTE_PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
_REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<body>[^()]*(?:\([^()]*\)[^()]*)*)\)")


@dataclass(frozen=True)
class Route:
    pattern: str  # Django's route syntax, regex parts in {name} form
    parameters: tuple[str, ...]
    choices: tuple[tuple[str, tuple[str, ...]], ...]  # regex alternatives, e.g. app_label: (auth, projects)

    @property
    def id(self) -> str:
        return "/" + self.pattern

    @property
    def is_api(self) -> bool:
        return self.pattern.startswith("api/")

    @property
    def is_admin(self) -> bool:
        return self.pattern.startswith("admin/")

    @property
    def admin_model(self) -> str | None:
        """"app_label.model" of an admin model page, whose object_id is that model's pk."""
        match = re.match(r"admin/(\w+)/(\w+)/", self.pattern)
        return f"{match[1]}.{match[2]}" if match else None

    def url(self, values: dict[str, str], **overrides: str) -> str:
        """The route as a path: each parameter from `overrides`, else `values`, else its first choice."""
        choices = dict(self.choices)
        path = self.pattern
        for name in self.parameters:
            value = overrides.get(name, values.get(name))
            if value is None:
                value = choices[name][0] if name in choices else "x"
            path = path.replace("{" + name + "}", value, 1)
        return "/" + path


def _from_regex(regex: str) -> tuple[str, list[str], dict[str, tuple[str, ...]]]:
    """A regex URL part as `{name}` placeholders; literal text kept."""
    names: list[str] = []
    choices: dict[str, tuple[str, ...]] = {}

    def group(match):
        names.append(match["name"])
        body = match["body"]
        if re.fullmatch(r"[\w-]+(\|[\w-]+)*", body):
            choices[match["name"]] = tuple(body.split("|"))
        return "{" + match["name"] + "}"

    text = _REGEX_GROUP.sub(group, regex.lstrip("^").rstrip("$").removesuffix("\\Z"))
    # Optional trailing pieces and escapes of a plain path.
    text = re.sub(r"\(\?:[^)]*\)\?", "", text).replace("\\", "")
    return text, names, choices


def _walk(patterns, prefix: str, names: list[str], choices: dict) -> list[Route]:
    found: list[Route] = []
    for entry in patterns:
        pattern = entry.pattern
        if isinstance(pattern, RoutePattern):
            text = _ROUTE_PARAMETER.sub(lambda m: "{" + m["name"] + "}", str(pattern._route))
            part_names = [m["name"] for m in _ROUTE_PARAMETER.finditer(str(pattern._route))]
            part_choices: dict = {}
        elif isinstance(pattern, RegexPattern):
            text, part_names, part_choices = _from_regex(pattern._regex)
        else:  # LocalePrefixPattern: not used here
            raise AssertionError(f"unknown pattern type {pattern!r}")
        if isinstance(entry, URLResolver):
            found += _walk(entry.url_patterns, prefix + text, names + part_names, choices | part_choices)
        elif isinstance(entry, URLPattern):
            found.append(Route(prefix + text, tuple(names + part_names), tuple((choices | part_choices).items())))
    return found


def all_routes() -> list[Route]:
    unique = {route.pattern: route for route in _walk(get_resolver().url_patterns, "", [], {})}
    return sorted(unique.values(), key=lambda route: route.pattern)


ROUTES = all_routes()
