"""Ring 2: signed webhooks inside a real InvenTree (settings, routing, the secret endpoint, Health).

    INVENTREE_PLUGINS_ENABLED=True INVENTREE_PLUGIN_TESTING=True INVENTREE_PLUGIN_TESTING_SETUP=True \
      PYTHONPATH=/path/to/inventree-notify-plus python manage.py test tests.ring2.test_webhooks
"""

from __future__ import annotations

import json
from datetime import timedelta

from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.utils import timezone
from InvenTree.unit_test import InvenTreeTestCase
from part.models import Part, PartCategory, PartStar
from plugin import registry
from plugin.models import PluginSetting

from inventree_notify_plus.models import Delivery
from inventree_notify_plus.validation import validate_webhook_secret

HOOK = "https://erp.example.com/hooks/inventree-T0KEN"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
API = "/plugin/notify-plus/"


class SignedWebhooksInInvenTree(InvenTreeTestCase):
    """WEBHOOK_URLS and WEBHOOK_SECRET as an admin saves them, and what they lead to."""

    roles = ["part.view", "part.change"]

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        registry.set_plugin_state("notify-plus", True)
        cls.plugin = registry.get_plugin("notify-plus", active=None)
        cls.category = PartCategory.objects.create(name="Hooks")
        cls.part = Part.objects.create(
            name="Hook bolt", category=cls.category, minimum_stock=10, component=True
        )
        viewers = Group.objects.get(name=cls.group.name)
        cls.alice = User.objects.create_user("hook-alice", "alice@example.com", "x")
        cls.bob = User.objects.create_user("hook-bob", "bob@example.com", "x")
        for user in (cls.alice, cls.bob):
            user.groups.add(viewers)
            PartStar.objects.create(part=cls.part, user=user)
        cls.staff = User.objects.create_superuser("hookadmin", "hookadmin@example.com", "x")

    def setUp(self):
        super().setUp()
        for key in ("SLACK_WEBHOOK_URL", "DISCORD_WEBHOOK_URL", "ROUTES"):
            self.plugin.set_setting(key, "")
        self.plugin.set_setting("WEBHOOK_URLS", "")
        self.plugin.set_setting("WEBHOOK_SECRET", "")

    def clean(self, key: str, value: str) -> None:
        setting = PluginSetting(plugin=self.plugin.plugin_config(), key=key, value=value)
        setting.full_clean(validate_unique=False)  # setUp stored each key already

    def test_settings_refuse_bad_urls_names_and_secrets_saying_why(self):
        for key, value, text in [
            ("WEBHOOK_URLS", "erp=http://erp.example.com/hook", "https"),
            ("WEBHOOK_URLS", "https://erp.example.com/hook", "name=URL"),
            ("WEBHOOK_URLS", "a=https://x.example.com/1 a=https://y.example.com/2", "twice"),
            ("WEBHOOK_SECRET", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_"),
            ("WEBHOOK_SECRET", "whsec_c2hvcnQ=", "24 to 64"),
        ]:
            with self.subTest(key=key, value=value):
                with self.assertRaises(ValidationError) as err:
                    self.clean(key, value)
                self.assertIn(text, str(err.exception))
                if key == "WEBHOOK_SECRET":
                    self.assertNotIn(value, str(err.exception))
        self.clean("WEBHOOK_URLS", f"default={HOOK} n8n=https://n8n.example.com/webhook/abc")
        self.clean("WEBHOOK_SECRET", SECRET)

    def test_routes_name_webhooks_and_a_low_part_plans_one_signed_delivery_with_usernames(self):
        from part.tasks import notify_low_stock

        self.plugin.set_setting("WEBHOOK_URLS", f"erp={HOOK}")
        self.plugin.set_setting("WEBHOOK_SECRET", SECRET)
        routes = json.dumps([{"category": ["part.notify_low_stock"], "to": ["webhook:erp"]}])
        self.clean("ROUTES", routes)  # the routes validator knows webhook:erp now
        self.plugin.set_setting("ROUTES", routes)
        notify_low_stock(self.part)
        row = Delivery.objects.get(channel="webhook")
        self.assertEqual(row.destination, "webhook:erp")
        self.assertEqual(sorted(row.mentions), ["hook-alice", "hook-bob"])
        self.assertFalse(row.groupable)
        self.assertNotIn("T0KEN", row.destination_label)
        self.assertIn("erp.example.com", row.destination_label)

    def test_generate_secret_is_staff_only(self):
        self.client.force_login(self.alice)
        for method in ("get", "post"):
            with self.subTest(method=method):
                answer = getattr(self.client, method)(API + "admin/webhook-secret/")
                self.assertEqual(answer.status_code, 403)
        self.assertEqual(self.plugin.get_setting("WEBHOOK_SECRET", cache=False), "")

    def test_generate_secret_stores_a_fresh_one_and_shows_it_once(self):
        self.client.force_login(self.staff)
        self.plugin.set_setting("WEBHOOK_URLS", f"erp={HOOK}")
        before = self.client.get(API + "admin/webhook-secret/")
        self.assertEqual(before.status_code, 200)
        self.assertEqual(before.json()["set"], False)
        self.assertEqual([w["key"] for w in before.json()["webhooks"]], ["webhook:erp"])
        self.assertNotIn("T0KEN", before.content.decode())

        first = self.client.post(API + "admin/webhook-secret/")
        self.assertEqual(first.status_code, 201)
        self.assertEqual(first["Cache-Control"], "no-store")
        secret = first.json()["secret"]
        self.assertTrue(secret.startswith("whsec_"))
        validate_webhook_secret(secret)
        self.assertEqual(self.plugin.get_setting("WEBHOOK_SECRET", cache=False), secret)
        self.assertFalse(first.json()["replaced"])

        second = self.client.post(API + "admin/webhook-secret/")
        self.assertTrue(second.json()["replaced"])
        self.assertNotEqual(second.json()["secret"], secret)
        # Never shown again: not by GET, not by Health, not in InvenTree's settings API.
        stored = second.json()["secret"]
        after = self.client.get(API + "admin/webhook-secret/")
        self.assertEqual(after.json()["set"], True)
        health = self.client.get(API + "health/")
        settings_api = self.client.get("/api/plugins/notify-plus/settings/WEBHOOK_SECRET/")
        for answer in (after, health, settings_api):
            self.assertNotIn(stored.removeprefix("whsec_"), answer.content.decode())

    def test_health_names_a_destination_that_has_failed_for_a_day(self):
        self.client.force_login(self.staff)
        self.plugin.set_setting("WEBHOOK_URLS", f"erp={HOOK}")
        self.plugin.set_setting("WEBHOOK_SECRET", SECRET)
        row = Delivery.objects.create(
            key="health-1",
            notice_uid="health-1",
            category="part.notify_low_stock",
            title="Low stock: Hook bolt",
            channel="webhook",
            destination="webhook:erp",
            destination_label="webhook 'erp' (https://erp.example.com/hooks/***)",
            status="failed",
            attempts=10,
            last_error="gave up after 10 attempts: receiver answered 503: down",
            created_at=timezone.now() - timedelta(hours=30),
        )
        health = self.client.get(API + "health/").json()
        self.assertEqual(
            [f["destination"] for f in health["failing_destinations"]], ["webhook:erp"]
        )
        warning = next(w for w in health["warnings"] if "webhook 'erp'" in w)
        self.assertIn("every delivery has failed for over 24 h", warning)
        self.assertIn("receiver answered 503", warning)
        self.assertNotIn("T0KEN", json.dumps(health))
        # A success since clears it.
        Delivery.objects.filter(pk=row.pk).update(status="sent", sent_at=timezone.now())
        health = self.client.get(API + "health/").json()
        self.assertEqual(health["failing_destinations"], [])
