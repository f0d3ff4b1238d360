"""Routing's configuration: destinations, routes and recipients, and the parsing that checks them.

The admin writes Slack/Discord destinations as ``name=url`` entries and routes as JSON; both
are parsed twice: strictly by the settings' validators on save (a ``ValidationError`` naming
what is wrong, so a typo is refused instead of silently changing where notices go), and
leniently for sending (what no longer parses is skipped and reported, the rest keeps working).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from difflib import get_close_matches

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from ..notice import Notice
from ..notice_categories import UI_ONLY
from ..redaction import mask_url

WEBHOOK_KINDS = ("slack", "discord")
SLACK_APP = "slack_app"  # the channel of Slack app destinations (``slack:<name>`` keys)
# Signed outgoing webhooks (``WEBHOOK_URLS``): no single-URL setting, so 'default' is a name
# an admin may give one of them (it then receives the notices no route matches).
SIGNED_WEBHOOK = "webhook"
# Named destinations that are not webhooks of one service: Apprise URLs (``apprise:<name>``).
APPRISE_KIND = "apprise"
EMAIL_MODES = ("immediate", "hourly", "daily")


@dataclass(frozen=True)
class WebhookDestination:
    """A named Slack or Discord channel the admin configured.

    ``app``: a Slack channel the Slack app posts to (``SLACK_APP_CHANNELS``): ``url`` then holds
    the channel id and the bot token sends; its key is ``slack:<name>`` like a webhook's.
    """

    kind: str
    name: str
    url: str
    app: bool = False

    @property
    def key(self) -> str:
        """The outbox stores this key, never the URL."""
        return f"{self.kind}:{self.name}"

    @property
    def channel(self) -> str:
        """The channel that sends to it (``Delivery.channel``): the Slack app's or the kind's."""
        return SLACK_APP if self.app else self.kind

    @property
    def label(self) -> str:
        """What the delivery log shows: the URL masked, or the app channel's id (not secret)."""
        if self.app:
            return f"slack app '{self.name}' (#{self.url})"
        return f"{self.kind} '{self.name}' ({mask_destination_url(self.kind, self.url)})"


@dataclass(frozen=True)
class Recipient:
    """One user who should hear about a notice, with their own choices."""

    user_id: int
    name: str = ""
    email: str = ""
    wants_email: bool = True
    email_mode: str = "immediate"
    slack_member_id: str = ""
    discord_user_id: str = ""
    timezone: str = "UTC"
    quiet_start: int | None = None
    quiet_end: int | None = None
    # Their InvenTree username: what a signed webhook's document lists as its recipients.
    username: str = ""


@dataclass(frozen=True)
class Route:
    """Send matching notices to named destinations.

    An empty match list means 'any'. ``categories`` are InvenTree notification categories,
    ``part_categories`` and ``locations`` are primary keys that also match their children.
    """

    to: tuple[str, ...]
    categories: frozenset[str] = frozenset()
    part_categories: frozenset[int] = frozenset()
    locations: frozenset[int] = frozenset()
    cont: bool = False

    def matches(self, notice: Notice) -> bool:
        """Whether every non-empty criterion matches the notice."""
        if self.categories and notice.category not in self.categories:
            return False
        if self.part_categories and not self.part_categories & set(
            notice.scope.get("part_category_path", ())
        ):
            return False
        return not (
            self.locations and not self.locations & set(notice.scope.get("location_path", ()))
        )


@dataclass
class RoutingConfig:
    """Everything routing needs, read from the plugin settings by the plugin."""

    email_enabled: bool = True
    destinations: Sequence[WebhookDestination] = ()
    routes: Sequence[Route] = ()
    default_to: tuple[str, ...] | None = None
    categories_enabled: dict[str, bool] = field(default_factory=dict)
    problems: Sequence[str] = ()
    slack_bot_token: str = field(default="", repr=False)  # the Slack app's secret
    # The Standard Webhooks secret signing every ``webhook:`` delivery (never in a repr or log).
    webhook_secret: str = field(default="", repr=False)

    def destination(self, key: str) -> WebhookDestination | None:
        """The configured destination with this key, if any."""
        return next((d for d in self.destinations if d.key == key), None)


def parse_destinations(
    kind: str, text: str, allow_default: bool = False
) -> list[WebhookDestination]:
    """``name=url`` entries separated by spaces, commas or new lines: the validator on save.

    Each name is unique and not ``default`` (that is the single webhook setting's): a second
    entry of the same name, or one called ``default``, would silently shadow another.
    """
    result: list[WebhookDestination] = []
    for entry in _entries(text, kind):
        dest = _parse_destination(kind, entry)
        taken = [d.name for d in result]
        if dest.name == "default" and kind == APPRISE_KIND:
            raise ValidationError(
                _(
                    "The name 'default' is reserved (unrouted notices go to the 'default' "
                    "destinations); give this Apprise URL another name, e.g. 'phones'."
                ),
                code="reserved_name",
            )
        if dest.name == "default" and not allow_default:
            raise ValidationError(
                _(
                    "The name 'default' is taken by the '{kind} webhook URL' setting; give this "
                    "destination another name (letters, digits, - and _), e.g. 'ops'."
                ).format(kind=kind.capitalize()),
                code="reserved_name",
            )
        if dest.name in taken:
            raise ValidationError(
                _(
                    "The name '{name}' is given twice; each destination needs its own name "
                    "(names so far: {taken})."
                ).format(name=dest.name, taken=", ".join(taken)),
                code="duplicate_name",
            )
        result.append(dest)
    return result


def parse_destinations_lenient(
    kind: str, text: str, allow_default: bool = False
) -> tuple[list[WebhookDestination], list[str]]:
    """Destinations for sending: a bad, repeated or 'default' entry is skipped and reported.

    A value saved before the validator refused these keeps its first entry of each name, as
    sending always did, and the admin is told what was ignored.
    """
    result: list[WebhookDestination] = []
    problems: list[str] = []
    for entry in _entries(text, kind):
        try:
            dest = _parse_destination(kind, entry)
        except ValidationError as exc:
            problems.append(f"{kind} destination ignored: {_message(exc)}")
            continue
        if dest.name == "default" and not allow_default:
            problems.append(
                f"{kind} destination '{dest.name}' ignored: 'default' is the "
                f"'{kind.capitalize()} webhook URL' setting; rename it"
            )
        elif any(d.name == dest.name for d in result):
            problems.append(
                f"{kind} destination '{dest.name}' given twice: the second is ignored; rename it"
            )
        else:
            result.append(dest)
    return result, problems


def _entries(text: str, kind: str = "") -> list[str]:
    # Apprise URLs may hold commas (several targets): their entries are separated by spaces only.
    if kind == APPRISE_KIND:
        return (text or "").split()
    return (text or "").replace(",", " ").split()


def mask_destination_url(kind: str, url: str) -> str:
    """A destination's URL as the log and the console show it (its secret parts hidden).

    Apprise URLs carry tokens in service-specific places; Apprise's own privacy form knows them.
    """
    if kind == APPRISE_KIND:
        from ..channels.apprise_urls import mask_apprise_url

        return mask_apprise_url(url)
    return mask_url(url)


def _parse_destination(kind: str, entry: str) -> WebhookDestination:
    name, sep, url = entry.partition("=")
    if not sep or not name or not url:
        raise ValidationError(
            _("Write each destination as name=URL (got '{entry}').").format(
                entry=mask_destination_url(kind, entry) if "://" in entry else entry
            ),
            code="invalid_destination",
        )
    if not name.replace("-", "").replace("_", "").isalnum():
        raise ValidationError(
            _("Destination names use letters, digits, - and _ (got '{name}').").format(name=name),
            code="invalid_name",
        )
    return WebhookDestination(kind=kind, name=name.lower(), url=url)


def parse_routes(
    text: str,
    known: Iterable[str] | None = None,
    categories: Iterable[str] | None = None,
) -> list[Route]:
    """Routes as JSON: ``[{"category": [...], "part_category": [...], "to": [...]}]``.

    The validator on save: raises a ValidationError naming the route and what is wrong (an
    unknown destination, naming the known ones; a notification category InvenTree does not
    send, naming the ones it does; an empty match; an unknown key), so a typo is refused
    instead of silently changing where notices go. ``known`` and ``categories`` are checked
    when given.
    """
    known_keys = set(known) if known is not None else None
    category_set = frozenset(categories) if categories is not None else None
    routes: list[Route] = []
    for index, item in enumerate(_route_items(text), start=1):
        routes.append(_parse_route(item, index, known_keys, category_set))
    return routes


def parse_routes_lenient(text: str, known: Iterable[str]) -> tuple[list[Route], list[str]]:
    """Routes for sending: a route that is (or became) invalid is skipped, the others kept.

    A destination removed after the routes were saved makes only the routes naming it invalid;
    each skipped route is reported so the admin sees it (delivery log warnings, settings page).
    """
    try:
        items = _route_items(text)
    except ValidationError as exc:
        return [], [f"all routes ignored until fixed: {_message(exc)}"]
    known_keys = set(known)
    routes: list[Route] = []
    problems: list[str] = []
    for index, item in enumerate(items, start=1):
        try:
            routes.append(_parse_route(item, index, known_keys))
        except ValidationError as exc:
            problems.append(f"skipped: {_message(exc)}")
    return routes, problems


def unknown_category_problems(routes: Sequence[Route], categories: Iterable[str]) -> list[str]:
    """Stored routes naming a category InvenTree does not send (saved before it was refused)."""
    accepted = frozenset(categories)
    problems: list[str] = []
    for index, route in enumerate(routes, start=1):
        for category in sorted(route.categories - accepted):
            problems.append(
                f"route {index} names the notification category '{category}', which InvenTree "
                f"does not send: that part of the route never matches{_did_you_mean(category, accepted)}"
            )
    return problems


def _message(exc: ValidationError) -> str:
    return "; ".join(str(m) for m in exc.messages)


def _route_items(text: str) -> list[object]:
    text = (text or "").strip()
    if not text:
        return []
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValidationError(
            _("Routes must be a JSON list: {error}").format(error=exc), code="invalid_json"
        ) from exc
    if not isinstance(data, list):
        raise ValidationError(_("Routes must be a JSON list of objects."), code="invalid_json")
    return data


_ROUTE_KEYS = frozenset({"category", "part_category", "location", "to", "continue"})


def _parse_route(
    item: object,
    index: int,
    known_keys: set[str] | None,
    categories: frozenset[str] | None = None,
) -> Route:
    if not isinstance(item, dict):
        raise ValidationError(_("Route {n} is not an object.").format(n=index), code="invalid")
    extra = set(item) - _ROUTE_KEYS
    if extra:
        raise ValidationError(
            _("Route {n}: unknown key(s) {keys}; use {allowed}.").format(
                n=index, keys=", ".join(sorted(extra)), allowed=", ".join(sorted(_ROUTE_KEYS))
            ),
            code="unknown_key",
        )
    to = tuple(str(t).strip().lower() for t in as_list(item.get("to")))
    if not to:
        raise ValidationError(
            _("Route {n} sends nowhere: give 'to'.").format(n=index), code="no_to"
        )
    for key in to:
        if known_keys is not None and key not in known_keys:
            raise ValidationError(
                _(
                    "Route {n}: unknown destination '{key}' (configured: {known}). Add it under "
                    "'More Slack channels' / 'Slack app channels' / 'More Discord channels' / "
                    "'Apprise URLs' first, or fix the name."
                ).format(n=index, key=key, known=", ".join(sorted(known_keys)) or "none"),
                code="unknown_destination",
            )
    names = [str(c).strip() for c in as_list(item.get("category"))]
    if categories is not None:
        for name in names:
            _check_category(name, index, categories)
    route = Route(
        to=to,
        categories=frozenset(names),
        part_categories=frozenset(_ints(item.get("part_category"), index)),
        locations=frozenset(_ints(item.get("location"), index)),
        cont=bool(item.get("continue", False)),
    )
    if not (route.categories or route.part_categories or route.locations):
        raise ValidationError(
            _(
                "Route {n} matches nothing in particular; unmatched notices already go to the default destinations."
            ).format(n=index),
            code="empty_match",
        )
    return route


def _check_category(name: str, index: int, categories: frozenset[str]) -> None:
    if name in categories:
        return
    if name in UI_ONLY:
        raise ValidationError(
            _(
                "Route {n}: InvenTree sends '{name}' to its bell only, never to a notification "
                "plugin, so this route would never match. Notification categories: {known}."
            ).format(n=index, name=name, known=", ".join(sorted(categories))),
            code="bell_only_category",
        )
    raise ValidationError(
        _(
            "Route {n}: unknown notification category '{name}'{hint}. Notification categories: "
            "{known}."
        ).format(
            n=index,
            name=name,
            hint=_did_you_mean(name, categories),
            known=", ".join(sorted(categories)),
        ),
        code="unknown_category",
    )


def _did_you_mean(name: str, choices: Iterable[str]) -> str:
    close = get_close_matches(name, list(choices), n=1, cutoff=0.75)
    return f" (did you mean '{close[0]}'?)" if close else ""


def as_list(value: object) -> list[object]:
    """A route's field as a list: one value or a list of them (the routes editor reads it too)."""
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _ints(value: object, index: int) -> list[int]:
    try:
        return [int(v) for v in as_list(value)]  # type: ignore[call-overload]
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            _("Route {n}: part_category and location take primary keys (numbers).").format(n=index),
            code="invalid_pk",
        ) from exc
