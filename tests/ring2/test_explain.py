"""Ring 2: 'Why did or didn't I hear about this?' inside InvenTree (issue 17, part 5).

    INVENTREE_PLUGINS_ENABLED=True INVENTREE_PLUGIN_TESTING=True INVENTREE_PLUGIN_TESTING_SETUP=True \
      PYTHONPATH=/path/to/inventree-notify-plus python manage.py test tests.ring2.test_explain

A low part in a subcategory, announced through InvenTree's notification call and sent by the
worker's dispatcher (email through InvenTree's mail backend, Slack to a loopback stand-in);
then ``GET /plugin/notify-plus/explain/`` as staff and as plain users.
"""

from __future__ import annotations

import json
import os
from unittest import mock

from django.contrib.auth.models import Group, User
from django.core import mail
from InvenTree.unit_test import InvenTreeTestCase
from part.models import Part, PartCategory, PartCategoryStar, PartStar
from plugin import registry
from plugin.models import PluginUserSetting

from inventree_notify_plus.devtools.standins import WebhookStandIn
from inventree_notify_plus.inventree.worker_dispatcher import build_dispatcher
from inventree_notify_plus.validation import ALLOWED_HOSTS_ENV

API = "/plugin/notify-plus/explain/"


class Explain(InvenTreeTestCase):
    """alice stars the part, carol its parent category; bob may view but follows nothing;
    nemo starred it but may not view parts; erin starred it and said no to email."""

    roles = ["part.view", "part_category.view", "stock_location.view"]

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        registry.set_plugin_state("notify-plus", True)
        cls.plugin = registry.get_plugin("notify-plus", active=None)
        cls.hardware = PartCategory.objects.create(name="Hardware")
        cls.nuts = PartCategory.objects.create(name="Nuts", parent=cls.hardware)
        cls.part = Part.objects.create(name="M5 why nut", category=cls.nuts, minimum_stock=5)
        viewers = Group.objects.get(name=cls.group.name)
        cls.people = {}
        for name in ("alice", "bob", "carol", "erin", "nemo"):
            user = User.objects.create_user(name, f"{name}@example.com", "x")
            if name != "nemo":
                user.groups.add(viewers)
            cls.people[name] = user
        for name in ("alice", "erin", "nemo"):
            PartStar.objects.create(part=cls.part, user=cls.people[name])
        PartCategoryStar.objects.create(category=cls.hardware, user=cls.people["carol"])
        PluginUserSetting.set_setting(
            "NOTIFY_PLUS_EMAIL",
            "off",
            None,
            user=cls.people["erin"],
            plugin=cls.plugin.plugin_config(),
        )
        cls.staff = User.objects.create_superuser("whyboss", "whyboss@example.com", "x")

    def setUp(self):
        super().setUp()
        self.slack = self.enterContext(WebhookStandIn("slack"))
        self.enterContext(
            mock.patch.dict(os.environ, {ALLOWED_HOSTS_ENV: f"127.0.0.1:{self.slack.port}"})
        )
        for key in ("NOTIFICATIONS_ENABLE", "NOTIFICATIONS_LOW_STOCK", "EMAIL_ENABLE"):
            self.plugin.set_setting(key, True)
        self.plugin.set_setting("SLACK_WEBHOOK_URL", self.slack.url)
        self.plugin.set_setting("SLACK_EXTRA_WEBHOOKS", "")
        self.plugin.set_setting("DISCORD_WEBHOOK_URL", "")
        self.plugin.set_setting(
            "ROUTES",
            json.dumps(
                [
                    {
                        "category": "part.notify_low_stock",
                        "part_category": [self.hardware.pk],
                        "to": "slack:default",
                    }
                ]
            ),
        )

    def low_and_sent(self) -> None:
        """InvenTree's low-stock call as core makes it (subscribers who may view it), sent."""
        users = [self.people[name] for name in ("alice", "carol", "erin")]
        context = {"part": self.part, "link": "x", "template": {"html": "x", "subject": "x"}}
        self.plugin.send_notification(self.part, "part.notify_low_stock", users, context)
        build_dispatcher(self.plugin).drain(budget_seconds=5, wait=False)

    def ask(self, who: str, **params) -> dict:
        self.client.force_login(self.staff if who == "staff" else self.people[who])
        response = self.client.get(API, params)
        self.assertEqual(response.status_code, 200, response.content)
        return response.json()

    def test_a_subscriber_sees_the_star_the_route_and_the_deliveries(self):
        self.low_and_sent()
        self.assertIn("alice@example.com", [m.to[0] for m in mail.outbox])
        self.assertEqual(len(self.slack.accepted), 1)
        answer = self.ask("alice", part=self.part.pk)  # about herself: user defaults to caller
        self.assertEqual(answer["user"]["username"], "alice")
        self.assertTrue(answer["subscribed"])
        self.assertEqual([v["star"] for v in answer["via"]], ["this part"])
        self.assertTrue(answer["sent_to_user"])
        self.assertIsNone(answer["reason"])
        [notice] = answer["notices"]
        self.assertEqual(notice["title"], "Low stock: M5 why nut")
        self.assertEqual(
            notice["route"]["routes"], [{"route": 1, "to": ["slack:default"], "continue": False}]
        )
        sent = {(d["channel"], d["destination"], d["status"]) for d in notice["deliveries"]}
        self.assertEqual(
            sent,
            {
                ("slack", "slack:default", "sent"),
                ("email", f"email:user:{self.people['alice'].pk}", "sent"),
            },
        )
        text = json.dumps(answer)
        self.assertNotIn("SeCrEtToKeN", text)
        for other in ("bob", "carol", "erin"):  # nobody else's email is listed
            self.assertNotIn(f"email:user:{self.people[other].pk}", text)
        kinds = [e["type"] for e in answer["timeline"]]
        self.assertIn("notice", kinds)
        self.assertEqual(kinds.count("delivery"), 2)

    def test_staff_asks_about_a_category_subscriber_and_sees_the_parent_category_star(self):
        self.low_and_sent()
        carol = self.people["carol"]
        answer = self.ask("staff", user=carol.pk, part=self.part.pk)
        self.assertEqual(answer["user"]["username"], "carol")
        self.assertEqual(
            [(v["star"], v["name"]) for v in answer["via"]],
            [("its category or a parent category", "Hardware")],
        )
        self.assertTrue(answer["sent_to_user"])
        # and about the category itself, which covers the notices about parts within it
        answer = self.ask("staff", user=carol.pk, part_category=self.hardware.pk)
        self.assertEqual([v["star"] for v in answer["via"]], ["this category"])
        self.assertEqual([n["title"] for n in answer["notices"]], ["Low stock: M5 why nut"])

    def test_a_non_subscriber_is_told_not_subscribed(self):
        self.low_and_sent()
        answer = self.ask("bob", part=self.part.pk)
        self.assertFalse(answer["subscribed"])
        self.assertFalse(answer["sent_to_user"])
        self.assertEqual(answer["reason"]["code"], "not_subscribed")
        self.assertIn("Not subscribed", answer["reason"]["text"])
        # the channel message is still listed: the notice was sent, just not to bob
        [notice] = answer["notices"]
        self.assertEqual([d["channel"] for d in notice["deliveries"]], ["slack"])

    def test_a_user_without_view_permission_is_told_so(self):
        self.low_and_sent()
        nemo = self.people["nemo"]
        answer = self.ask("staff", user=nemo.pk, part=self.part.pk)
        self.assertTrue(answer["subscribed"])
        self.assertFalse(answer["can_view"])
        self.assertEqual(answer["reason"]["code"], "no_view_permission")
        # nemo asking for themselves learns nothing about a part they may not view
        self.client.force_login(nemo)
        response = self.client.get(API, {"part": self.part.pk})
        self.assertEqual(response.status_code, 404)
        self.assertNotIn("M5 why nut", response.content.decode())

    def test_a_user_who_said_no_to_email_is_told_whose_choice_it_was(self):
        self.low_and_sent()
        self.assertNotIn("erin@example.com", [m.to[0] for m in mail.outbox])
        answer = self.ask("erin", part=self.part.pk)
        self.assertTrue(answer["subscribed"])
        self.assertFalse(answer["consent"]["email"])
        self.assertEqual(answer["reason"]["code"], "said_no_to_email")
        self.assertIn("own Notify Plus setting", answer["reason"]["text"])

    def test_a_switch_off_is_named(self):
        self.plugin.set_setting("NOTIFICATIONS_LOW_STOCK", False)
        self.low_and_sent()
        answer = self.ask("alice", part=self.part.pk)
        self.assertEqual(answer["notices"], [])
        self.assertEqual(answer["reason"]["code"], "switch_off")
        self.assertIn("'Low stock notices' is off", answer["reason"]["text"])

    def test_someone_who_starred_after_the_announcement_is_told_when_it_was_announced(self):
        from common.models import NotificationEntry

        from inventree_notify_plus.models import Delivery

        self.low_and_sent()
        NotificationEntry.notify("part.notify_low_stock", self.part.pk)  # as InvenTree does
        PartStar.objects.create(part=self.part, user=self.people["bob"])
        answer = self.ask("bob", part=self.part.pk)
        first = Delivery.objects.filter(status="sent").order_by("sent_at").first()
        self.assertEqual(answer["reason"]["code"], "episode_announced")
        self.assertEqual(answer["reason"]["link"], {"delivery": first.pk})
        self.assertIn(first.destination, answer["reason"]["text"])
        self.assertEqual(
            [r["code"] for r in answer["reasons"]], ["episode_announced", "inventree_dedupe"]
        )
        self.assertIn("part.notify_low_stock", answer["reasons"][1]["text"])
        self.assertEqual(answer["inventree_dedupe"]["key"], "part.notify_low_stock")

    def test_a_location_manager_sees_the_location_and_its_parts_notices(self):
        from stock.models import StockItem, StockLocation

        from inventree_notify_plus.models import LocationSubscription

        store = StockLocation.objects.create(name="Why store")
        shelf = StockLocation.objects.create(name="Why shelf", parent=store)
        StockItem.objects.create(part=self.part, location=shelf, quantity=1)
        bob = self.people["bob"]
        LocationSubscription.objects.create(user=bob, location_id=store.pk)
        self.low_and_sent()
        answer = self.ask("bob", part=self.part.pk)
        self.assertEqual(
            [(v["star"], v["how"], v["name"]) for v in answer["via"]],
            [("a location holding its stock", "subscribed", "Why store")],
        )
        self.assertTrue(answer["sent_to_user"])
        answer = self.ask("bob", location=shelf.pk)
        self.assertEqual([v["star"] for v in answer["via"]], ["a parent location"])
        self.assertEqual([n["title"] for n in answer["notices"]], ["Low stock: M5 why nut"])

    def test_a_plain_user_may_not_ask_about_someone_else(self):
        self.client.force_login(self.people["bob"])
        response = self.client.get(API, {"user": self.people["alice"].pk, "part": self.part.pk})
        self.assertEqual(response.status_code, 403)
        self.assertIn("only staff", response.json()["error"])

    def test_bad_parameters_are_named_and_unknown_objects_are_404(self):
        self.client.force_login(self.staff)
        cases = [
            ({}, 400, "exactly one object"),
            ({"part": self.part.pk, "build": 1}, 400, "got part, build"),
            ({"part": "x"}, 400, "part must be a positive whole number"),
            ({"part": self.part.pk, "user": "me"}, 400, "user must be"),
            ({"part": 999999}, 404, "no part 999999"),
            ({"location": 999999}, 404, "no location 999999"),
            ({"part": self.part.pk, "user": 999999}, 404, "no user 999999"),
        ]
        for params, status, text in cases:
            with self.subTest(params=params):
                response = self.client.get(API, params)
                self.assertEqual(response.status_code, status, response.content)
                self.assertIn(text, response.json()["error"])

    def test_the_admin_consoles_form_posts_the_same_question_and_gets_field_errors(self):
        self.low_and_sent()
        self.client.force_login(self.staff)
        alice = self.people["alice"]
        answer = self.client.post(API, {"user": alice.pk, "part": self.part.pk}).json()
        self.assertEqual(answer["user"]["username"], "alice")
        self.assertTrue(answer["sent_to_user"])
        refused = self.client.post(API, {"user": alice.pk, "part": 999999})
        self.assertEqual(refused.status_code, 404)
        self.assertEqual(refused.json()["part"], ["no part 999999"])
