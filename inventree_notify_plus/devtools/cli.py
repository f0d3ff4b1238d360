"""``notify-plus``: see the whole pipeline work on this machine, no InvenTree needed.

``notify-plus demo`` starts loopback stand-ins for Slack, Discord and an SMTP server, sends a
low-stock notice and a build-order shortfall through routing, the outbox and the channels
(with the first Slack answers failing), and prints what arrived where. ``--out DIR`` also
writes the received Slack/Discord JSON and the emails, for a closer look.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from datetime import timedelta
from pathlib import Path

from ..escaping import truncate


def demo(out: Path | None = None) -> int:
    """Run the pipeline end to end against loopback stand-ins and report what arrived."""
    from .standins import Answer, SmtpStandIn, WebhookStandIn

    with (
        WebhookStandIn("slack") as slack,
        WebhookStandIn("discord") as discord,
        SmtpStandIn() as smtp,
        tempfile.TemporaryDirectory() as tmp,
    ):
        from .standalone import setup_django

        setup_django(str(Path(tmp) / "demo.sqlite3"), smtp.port)
        from django.utils import timezone

        from ..channels import CHANNELS, Destination, RenderContext
        from ..outbox import Dispatcher, RetryPolicy, counts, enqueue
        from ..routing import Recipient, RoutingConfig, WebhookDestination, plan
        from .samples import HOSTILE, build_shortfall_notice, low_stock_notice
        from .standalone import StaticDirectory

        slack.then(Answer(429, "rate_limited", {"Retry-After": "1"}), Answer(503))
        config = RoutingConfig(
            destinations=[
                WebhookDestination("slack", "default", slack.url),
                WebhookDestination("discord", "default", discord.url),
            ]
        )
        people = [
            Recipient(1, "Alice", "alice@example.com", slack_member_id="U0ALICE01"),
            Recipient(2, "Bob", "bob@example.com"),
        ]
        directory = StaticDirectory()
        for dest in config.destinations:
            directory.add(Destination(dest.kind, dest.key, dest.url, dest.kind))
        for person in people:
            key = f"email:user:{person.user_id}"
            directory.add(Destination("email", key, person.email, person.name, person.name))
        low = low_stock_notice(f"M3 x 8 screw {HOSTILE}", 12)
        build = build_shortfall_notice()
        now = timezone.now()
        for notice in (low, build):
            enqueue(notice, plan(notice, people, config, now))
        context = RenderContext(instance_name="Workshop", site_url="http://inventree.local")
        channels = {kind: cls(context) for kind, cls in CHANNELS.items()}
        dispatcher = Dispatcher(
            directory,
            channels,
            policy=RetryPolicy(base_seconds=0.5, cap_seconds=2),
            group_interval=timedelta(0),
        )
        dispatcher.drain(budget_seconds=30)

        print("Notify Plus demo: 2 notices, 2 subscribers, Slack answering 429 then 503 first\n")
        print(f"Slack   ({slack.requests} requests, {len(slack.accepted)} accepted):")
        for body in slack.accepted:
            print(f"  - {body['blocks'][0]['text']['text']}  | text: {truncate(body['text'], 70)}")
        print(f"Discord ({discord.requests} requests, {len(discord.accepted)} accepted):")
        for body in discord.accepted:
            embed = body["embeds"][0]
            print(
                f"  - {embed['title']}  | {len(embed.get('fields', []))} fields, allowed_mentions={body['allowed_mentions']}"
            )
        print(f"Email   ({len(smtp.messages)} messages):")
        for rcpts, message in smtp.messages:
            print(f"  - to {', '.join(rcpts)}: {message['Subject']}")
        print(f"\nOutbox: {counts()}")
        if out:
            out.mkdir(parents=True, exist_ok=True)
            (out / "slack.json").write_text(json.dumps(slack.accepted, indent=2))
            (out / "discord.json").write_text(json.dumps(discord.accepted, indent=2))
            for n, (_, message) in enumerate(smtp.messages):
                (out / f"email-{n}.eml").write_bytes(message.as_bytes())
            print(f"Wrote what arrived to {out}/")
        expected = len(people) * 2
        ok = (
            len(slack.accepted) >= 1
            and len(discord.accepted) >= 1
            and len(smtp.messages) == expected
        )
        return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``notify-plus`` command."""
    parser = argparse.ArgumentParser(prog="notify-plus", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("demo", help="send sample notices through the whole pipeline on loopback")
    run.add_argument("--out", type=Path, help="write what arrived (JSON, .eml) to this folder")
    args = parser.parse_args(argv)
    return demo(args.out)


if __name__ == "__main__":
    raise SystemExit(main())
