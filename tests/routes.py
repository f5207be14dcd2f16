"""Every route of the URLconf, for tests that must cover routes added later without being edited.

`ROUTES` is read from Django's resolver when the tests are collected (the
admin's routes included); `fill()` finds a value for each path parameter
that makes the URL name a real object, and `url()` builds the path.
"""

import inspect
import re
from dataclasses import dataclass, field

from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from django.utils.regex_helper import normalize


@dataclass(frozen=True)
class Route:
    route: str  # as ResolverMatch.route spells it; the test id
    template: str  # "projects/%(slug)s/api-keys/", from the route's regex
    params: tuple[str, ...]
    pattern: URLPattern = field(compare=False)

    def __str__(self) -> str:
        return self.route or "<root>"

    @property
    def is_api(self) -> bool:
        return self.template.startswith("api/")

    @property
    def model_admin(self) -> admin.ModelAdmin | None:
        """The ModelAdmin serving this route, if any (its views are bound methods)."""
        owner = getattr(self.pattern.callback, "model_admin", None)
        owner = owner or getattr(inspect.unwrap(self.pattern.callback), "__self__", None)
        return owner if isinstance(owner, admin.ModelAdmin) else None

    @property
    def view_name(self) -> str:
        return getattr(self.pattern.callback, "__name__", "")


def _walk(patterns, route: str = "", regex: str = ""):
    for entry in patterns:
        part = str(entry.pattern)
        joined = part if not route else route + part.removeprefix("^")
        # The resolver joins regexes this way too when it reverses URLs.
        joined_regex = regex + entry.pattern.regex.pattern.removeprefix("^")
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, joined, joined_regex)
        else:
            template, params = normalize(joined_regex)[0]
            yield Route(joined, template, tuple(params), entry)


ROUTES = list(_walk(get_resolver().url_patterns))


def url(route: Route, values: dict[str, str], query: str = "") -> str:
    """The route's URL; values must already be percent-encoded where they need it."""
    path = "/" + route.template % values
    return f"{path}?{query}" if query else path


def _resolves_to(path: str, route: Route) -> bool:
    try:
        return resolve(path).route == route.route
    except Resolver404:
        return False


def _default(route: Route, name: str, known: dict[str, str]) -> str:
    """A stand-in for a parameter not filled yet: the first value its converter accepts."""
    converter = getattr(route.pattern.pattern, "converters", {}).get(name)
    regex = converter.regex if converter is not None else "[^/]+"
    candidates = [known[name]] if name in known else []
    return next((c for c in [*candidates, *known.values(), "a"] if re.fullmatch(regex, c)), "a")


def fill(route: Route, known: dict[str, str]) -> dict[str, str]:
    """A value for each path parameter: `known[name]` if it routes here, else the first candidate that does."""
    values: dict[str, str] = {}
    for name in route.params:
        # A parameter the caller does not know yet gets the first value its route accepts.
        candidates = [known[name]] if name in known else []
        candidates += [*known.values(), "apikeys", "1", "a"]
        for candidate in candidates:
            trial = {**{p: _default(route, p, known) for p in route.params}, **values, name: candidate}
            if _resolves_to(url(route, trial), route):
                values[name] = candidate
                break
        else:
            raise AssertionError(f"No valid value found for <{name}> of {route.route}: add one to the known values.")
    return values
