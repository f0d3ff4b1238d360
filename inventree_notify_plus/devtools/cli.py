"""notify-plus: see the whole pipeline work on this machine, no InvenTree needed.

notify-plus demo starts loopback stand-ins for Slack, Discord, an SMTP server and a signed-webhook
receiver and shows, step by step, what reaches them: one low-stock notice (Slack Block Kit, a
Discord embed, an email to each subscriber, a signed webhook), then a burst that becomes one digest per channel, then a notice
whose first attempts fail and are retried. --out DIR also writes every payload that arrived.
The SMTP stand-in needs the demo extra: pip install 'inventree-notify-plus[demo]'
Ctrl-C stops it (exit status 130).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..escaping import truncate
from .arguments import OneLineParser, run_main, writable_dir

EXTRA_HINT = "pip install 'inventree-notify-plus[demo]'"
BURST = 5  # low-stock notices in the burst, plus one build-order shortfall
WIDTH = 96  # characters of a printed line


def say(text: str = "") -> None:
    """Print at once: the demo reports progress while it runs, not at the end."""
    print(text, flush=True)


def _cut(text: str) -> str:
    return truncate(text, WIDTH)


class _Run:
    """The stand-ins, the outbox and the channels of one demo run, and what it has checked."""

    def __init__(
        self,
        slack: Any,
        discord: Any,
        smtp: Any,
        out: Path | None,
        hook: Any = None,
        ntfy: Any = None,
    ) -> None:
        from django.utils import timezone

        from ..channels import CHANNELS, Destination, RenderContext
        from ..outbox.dispatcher import Dispatcher
        from ..outbox.retry import RetryPolicy
        from ..routing.config import Recipient, RoutingConfig, WebhookDestination
        from .standalone import StaticDirectory

        self.slack, self.discord, self.smtp, self.out = slack, discord, smtp, out
        self.hook = hook  # --- webhooks --- a signed-webhook receiver that verifies each POST
        self.ntfy = ntfy
        self.now = timezone.now
        self.config = RoutingConfig(
            destinations=[
                WebhookDestination("slack", "default", slack.url),
                WebhookDestination("discord", "default", discord.url),
                *([WebhookDestination("webhook", "default", hook.url)] if hook else []),
            ],
            webhook_secret=hook.secret if hook else "",
        )
        if ntfy is not None:  # one Apprise destination (an ntfy server) beside them
            self.config.destinations = [
                *self.config.destinations,
                WebhookDestination("apprise", "phones", ntfy.url),
            ]
            self.config.default_to = tuple(d.key for d in self.config.destinations)
        self.people = [
            Recipient(
                1, "Alice", "alice@example.com", slack_member_id="U0ALICE01", username="alice"
            ),
            Recipient(2, "Bob", "bob@example.com", username="bob"),
        ]
        directory = StaticDirectory()
        for dest in self.config.destinations:
            secret = self.config.webhook_secret if dest.kind == "webhook" else ""
            directory.add(Destination(dest.kind, dest.key, dest.url, dest.kind, secret=secret))
        for person in self.people:
            key = f"email:user:{person.user_id}"
            directory.add(Destination("email", key, person.email, person.name, person.name))
        context = RenderContext(instance_name="Workshop", site_url="http://inventree.local")
        channels = {kind: cls(context) for kind, cls in CHANNELS.items()}
        for channel in channels.values():
            channel.send = self._reporting(channel.kind, channel.send)
        self.dispatcher = Dispatcher(
            directory,
            channels,
            policy=RetryPolicy(base_seconds=0.5, cap_seconds=2),
            # 60 s by default; 1 s keeps the demo short (the burst arrives at once anyway).
            group_interval=timedelta(seconds=1),
        )
        self.problems: list[str] = []
        self.quiet = True
        self.step_started = time.monotonic()

    def _reporting(self, kind: str, send: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap a channel's send to print attempts as they happen: failed ones always, all when not quiet."""

        def send_and_report(destination: Any, notices: Sequence[Any], mentions: Sequence[str] = ()):
            result = send(destination, notices, mentions)
            if not self.quiet or result.outcome != "sent":
                who = destination.recipient_name or kind.capitalize()
                at = time.monotonic() - self.step_started
                say(f"    {who:<8} +{at:4.1f} s  {result.outcome:<9} {_cut(result.detail)}")
            return result

        return send_and_report

    def deliver(self, notices: Sequence[Any]) -> None:
        """Route and enqueue ``notices`` as the plugin does, then let the dispatcher drain."""
        from ..outbox.store import enqueue
        from ..routing.plan import plan

        now = self.now()
        self.step_started = time.monotonic()
        for notice in notices:
            enqueue(notice, plan(notice, self.people, self.config, now))
        self.dispatcher.drain(budget_seconds=30)

    def mark(self) -> tuple[int, int, int]:
        """How much each stand-in had received so far."""
        return len(self.slack.accepted), len(self.discord.accepted), len(self.smtp.messages)

    def since(self, mark: tuple[int, int, int], step: str) -> tuple[list, list, list]:
        """What arrived at Slack, Discord and SMTP after ``mark``; written to ``--out``."""
        slack = self.slack.accepted[mark[0] :]
        discord = self.discord.accepted[mark[1] :]
        emails = self.smtp.messages[mark[2] :]
        self.write(f"{step}-slack.json", slack)
        self.write(f"{step}-discord.json", discord)
        for n, (_, message) in enumerate(emails, 1):
            self.write(f"{step}-email-{n:02d}.eml", message)
        return slack, discord, emails

    def expect(self, what: str, ok: bool) -> None:
        """Record a check; the exit status is 0 only if every check held."""
        if not ok:
            self.problems.append(what)
            say(f"    !! expected {what}")

    def write(self, name: str, data: Any) -> None:
        """Write one payload that arrived to ``--out`` (JSON, or an email as .eml)."""
        if self.out is None:
            return
        path = self.out / name
        if hasattr(data, "as_bytes"):
            path.write_bytes(data.as_bytes())
        else:
            path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _show_slack(payload: dict[str, Any]) -> None:
    """Print a Slack Block Kit message the way a reader meets it: header, fields, button."""
    from .received import slack_titles

    blocks = payload["blocks"]
    say(f"    Slack    header  {_cut(blocks[0]['text']['text'])}")
    for block in blocks[1:]:
        for field in block.get("fields", []):
            say(f"             field   {_cut(field['text'])}")
        for element in block.get("elements", []):
            if element.get("type") == "button":
                say(f"             button  {element['text']['text']} -> {element['url']}")
            elif element.get("type") == "mrkdwn":
                say(f"             mention {element['text']} (Alice opted in)")
    titles, _ = slack_titles(payload)
    if len(titles) > 1:
        for title in titles:
            say(f"             line    {_cut(title)}")


def _show_discord(payload: dict[str, Any]) -> None:
    """Print a Discord message: embed title and link, fields, who may be pinged."""
    from .received import discord_plain, discord_titles

    embed = payload["embeds"][0]
    titles, _ = discord_titles(payload)
    say(f"    Discord  embed   {_cut(discord_plain(embed['title']))}")
    if embed.get("url"):
        say(f"             link    {embed['url']}")
    for field in embed.get("fields") or []:
        say(f"             field   {_cut(discord_plain(field['name'] + ': ' + field['value']))}")
    if len(titles) > 1:
        for title in titles:
            say(f"             line    {_cut(title)}")
    pinged = payload["allowed_mentions"]["users"] or "nobody (allowed_mentions parses nothing)"
    say(f"             pings   {pinged}")


def _show_emails(messages: Sequence[tuple[list[str], Any]]) -> None:
    for rcpts, message in messages:
        say(f"    Email    to {', '.join(rcpts)}: {_cut(str(message['Subject']))}")


def demo(out: Path | None = None) -> int:
    """Run the three steps against loopback stand-ins; 0 only if everything arrived as expected."""
    say("Notify Plus demo, on 127.0.0.1 only: stand-ins for Slack, Discord and an SMTP server")
    say("Starting the stand-ins and a throwaway database ...")
    started = time.monotonic()
    from ..validation import ALLOWED_HOSTS_ENV, generate_webhook_secret
    from .standalone import setup_django
    from .standins import AppriseStandIn, SmtpStandIn, WebhookStandIn
    from .webhook_standin import SignedWebhookStandIn

    with (
        WebhookStandIn("slack") as slack,
        WebhookStandIn("discord") as discord,
        AppriseStandIn("ntfy") as ntfy,
        SmtpStandIn() as smtp,
        SignedWebhookStandIn(generate_webhook_secret()) as hook,
        tempfile.TemporaryDirectory() as tmp,
    ):
        # Apprise sends plain http only to allowed hosts: this process's ntfy stand-in.
        os.environ[ALLOWED_HOSTS_ENV] = f"127.0.0.1:{ntfy.port}"
        setup_django(str(Path(tmp) / "demo.sqlite3"), smtp.port)
        run = _Run(slack, discord, smtp, out, hook, ntfy)
        people = ", ".join(f"{p.name} <{p.email}>" for p in run.people)
        say(f"Ready in {time.monotonic() - started:.1f} s. Subscribers of the parts: {people}.")
        _single_notice(run)
        _burst(run)
        _fault(run)

        from ..outbox.report import counts

        totals = counts()
        say("\nOutbox: " + ", ".join(f"{n} {status}" for status, n in totals.items() if n))
        unfinished = sum(totals.get(s, 0) for s in ("pending", "sending", "failed", "unknown"))
        run.expect("every delivery sent", unfinished == 0)
        if out is not None:
            say(f"Wrote what arrived, step by step, to {out}/")
        if run.problems:
            say(f"Not everything arrived as expected: {'; '.join(run.problems)}.")
            return 1
        say(f"Everything arrived as expected ({time.monotonic() - started:.1f} s).")
        return 0


def _single_notice(run: _Run) -> None:
    """Step 1: one notice, as each channel shows it."""
    from .samples import HOSTILE, low_stock_notice

    say("\n[1/3] One low-stock notice, for a part whose name tries to ping and format")
    mark = run.mark()
    pushed = len(run.ntfy.accepted) if run.ntfy else 0
    run.deliver([low_stock_notice(f"M3 x 8 screw {HOSTILE}", 12)])
    slack, discord, emails = run.since(mark, "1-single")
    for payload in slack:
        _show_slack(payload)
    for payload in discord:
        _show_discord(payload)
    _show_emails(emails)
    blocks = [b["type"] for b in slack[0]["blocks"]] if len(slack) == 1 else []
    run.expect("1 Slack message with a header, fields and a button", _is_single_block_kit(blocks))
    fields = discord[0]["embeds"][0].get("fields") if len(discord) == 1 else None
    run.expect("1 Discord embed with 6 fields", fields is not None and len(fields) == 6)
    run.expect("1 email to each subscriber", _recipients(emails) == _addresses(run))
    _show_webhook(run)
    if run.ntfy:
        phone = run.ntfy.accepted[pushed:]
        for payload in phone:
            say(f"  ntfy (Apprise): {_cut(str(payload.get('title', '')))}")
        run.expect("1 ntfy push through Apprise", len(phone) == 1)


def _show_webhook(run: _Run) -> None:
    """The signed webhook of step 1: verified by the receiver with ``standardwebhooks``."""
    hooks = run.hook.accepted
    run.write("1-single-webhook.json", [r.json() for r in hooks])
    for request in hooks:
        body = request.json()
        say(f"    Webhook  {body['type']}: {_cut(body['title'])}")
        say(f"             webhook-id {request.webhook_id}, signature verified")
        say(f"             recipients {', '.join(body['recipients'])}")
    run.expect(
        "1 signed webhook, verified, naming alice and bob",
        len(hooks) == 1
        and not run.hook.failed
        and hooks[0].json()["recipients"] == ["alice", "bob"],
    )


def _burst(run: _Run) -> None:
    """Step 2: notices arriving together leave as one digest per channel."""
    from .samples import MARKUP, build_shortfall_notice, low_stock_notice

    say(f"\n[2/3] A burst: {BURST} parts run low and a build order lacks parts, all at once")
    say("      (one part's name tries Slack markup: it must show as typed)")
    names = [f"Washer M{n}" for n in range(2, 1 + BURST)] + [f"Spacer {MARKUP}"]
    burst = [low_stock_notice(name, n) for n, name in enumerate(names, 2)]
    burst.append(build_shortfall_notice())
    mark = run.mark()
    run.deliver(burst)
    slack, discord, emails = run.since(mark, "2-burst")
    for payload in slack:
        _show_slack(payload)
    for payload in discord:
        _show_discord(payload)
    say(f"    Email    {len(emails)} messages, one digest to each subscriber: both chose email")
    say("             'immediately' (the first notice at once, the ones within the grouping")
    say("             interval after it together; hourly and daily digests are per-user settings)")
    everyone = len(burst)
    run.expect(f"1 Slack digest listing all {everyone}", _listed(slack, "slack") == [everyone])
    run.expect(
        f"1 Discord digest listing all {everyone}", _listed(discord, "discord") == [everyone]
    )
    run.expect(
        f"1 digest email to each subscriber listing all {everyone}",
        _recipients(emails) == _addresses(run) and _listed_in_emails(emails) == [everyone] * 2,
    )


def _fault(run: _Run) -> None:
    """Step 3: the first answers fail; the outbox retries until the message is through."""
    from .samples import low_stock_notice
    from .standins import Answer

    say("\n[3/3] A fault: Slack answers 429 then 503, Discord 500, Alice's mail server 451")
    run.slack.then(Answer(429, "rate_limited", {"Retry-After": "1"}), Answer(503))
    run.discord.then(Answer(500, {"message": "Internal Server Error"}))
    run.smtp.refuse("alice@example.com", "451 4.3.0 Temporary failure, try again later")
    mark = run.mark()
    run.quiet = False
    run.deliver([low_stock_notice("Hex nut M3", 40)])
    slack, discord, emails = run.since(mark, "3-retried")
    failures_used = (
        not run.slack.script
        and not run.discord.script
        and not run.smtp.script.get("alice@example.com")
    )
    run.expect("every scripted failure answered", failures_used)
    run.expect("the Slack message after 2 retries", len(slack) == 1)
    run.expect("the Discord message after 1 retry", len(discord) == 1)
    run.expect("both emails, Alice's retried", _recipients(emails) == _addresses(run))


def _is_single_block_kit(types: list[str]) -> bool:
    return bool(types) and types[0] == "header" and "section" in types and "actions" in types


def _recipients(emails: Sequence[tuple[list[str], Any]]) -> list[str]:
    return sorted(address for rcpts, _ in emails for address in rcpts)


def _addresses(run: _Run) -> list[str]:
    return sorted(p.email for p in run.people)


def _listed_in_emails(emails: Sequence[tuple[list[str], Any]]) -> list[int]:
    """How many notices each email lists (1 for a single notice)."""
    from .received import email_titles

    counted = []
    for _, message in emails:
        titles, hidden = email_titles(message, "Workshop")
        counted.append(len(titles) + hidden)
    return counted


def _listed(payloads: Sequence[dict[str, Any]], kind: str) -> list[int]:
    """How many notices each message lists (1 for a single notice)."""
    from .received import discord_titles, slack_titles

    read = slack_titles if kind == "slack" else discord_titles
    counted = []
    for payload in payloads:
        titles, hidden = read(payload)
        counted.append(len(titles) + hidden)
    return counted


def main(argv: list[str] | None = None) -> int:
    """Entry point of the notify-plus command: bad input and Ctrl-C end in one line."""
    return run_main(lambda: _main(argv), prog="notify-plus")


def _main(argv: list[str] | None) -> int:
    parser = OneLineParser(prog="notify-plus", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser(
        "demo",
        help="send sample notices through the whole pipeline to loopback stand-ins",
        description=__doc__.split("\n\n", 1)[1],
    )
    run.add_argument(
        "--out",
        type=writable_dir,
        metavar="DIR",
        help="also write every payload that arrived (Slack/Discord JSON, emails as .eml) here",
    )
    args = parser.parse_args(argv)
    try:
        import aiosmtpd  # noqa: F401 - the SMTP stand-in's server, from the demo extra
    except ImportError:
        print(f"notify-plus demo needs the 'demo' extra: {EXTRA_HINT}", file=sys.stderr)
        return 2
    return demo(args.out)


if __name__ == "__main__":
    raise SystemExit(main())
