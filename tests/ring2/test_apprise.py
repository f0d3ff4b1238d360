"""Ring 2: Apprise destinations inside a real InvenTree (issue 18).

    INVENTREE_PLUGINS_ENABLED=True INVENTREE_PLUGIN_TESTING=True INVENTREE_PLUGIN_TESTING_SETUP=True \
      PYTHONPATH=/path/to/inventree-notify-plus python manage.py test tests.ring2.test_apprise

The ``APPRISE_URLS`` setting refused through InvenTree's plugin settings API with the entry named
and the token never repeated; *Send test* to ``apprise:<name>`` showing the stand-in's answer; the
console's Add destination form: validation as you type, saving through the plugin settings.
Loopback stand-ins only.
"""

from __future__ import annotations

import json
import os
from unittest import mock

from django.contrib.auth.models import User
from InvenTree.unit_test import InvenTreeTestCase
from plugin import registry

from inventree_notify_plus.devtools.standins import Answer, AppriseStandIn
from inventree_notify_plus.models import DestinationState
from inventree_notify_plus.validation import ALLOWED_HOSTS_ENV

API = "/plugin/notify-plus/"
SETTINGS = "/api/plugins/notify-plus/settings/"
TOKEN = AppriseStandIn.TOKEN


class AppriseInInvenTree(InvenTreeTestCase):
    """A superuser edits settings; staff (``self.user``) uses the console."""

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        registry.set_plugin_state("notify-plus", True)
        cls.plugin = registry.get_plugin("notify-plus", active=None)
        cls.boss = User.objects.create_superuser("appriseboss", "boss@example.com", "x")

    def setUp(self):
        super().setUp()
        self.plugin.set_setting("APPRISE_URLS", "")
        self.plugin.set_setting("ROUTES", "")
        self.client.force_login(self.boss)

    def loopback(self, standin: AppriseStandIn) -> None:
        self.enterContext(
            mock.patch.dict(os.environ, {ALLOWED_HOSTS_ENV: f"127.0.0.1:{standin.port}"})
        )

    def patch(self, key: str, value: str):
        return self.client.patch(
            f"{SETTINGS}{key}/", {"value": value}, content_type="application/json"
        )

    def test_setting_refuses_bad_urls_naming_the_entry_never_the_token(self):
        cases = [
            (f"ops=bogus://chat.example.com/{TOKEN}", ["'ops'", "does not know the service"]),
            ("ops=mmosts://", ["'ops'", "could not read"]),
            (f"ops=json://example.com/{TOKEN}", ["'ops'", "unencrypted", ALLOWED_HOSTS_ENV]),
            ("default=ntfys://ntfy.sh/stores", ["reserved"]),
            ("a=ntfys://ntfy.sh/x a=ntfys://ntfy.sh/y", ["given twice"]),
        ]
        for value, says in cases:
            with self.subTest(value=value):
                answer = self.patch("APPRISE_URLS", value)
                self.assertEqual(answer.status_code, 400, answer.content)
                text = json.dumps(answer.json())
                for words in says:
                    self.assertIn(words, text)
                self.assertNotIn(TOKEN, text)
                self.assertEqual(self.plugin.get_setting("APPRISE_URLS", cache=False), "")
        good = self.patch(
            "APPRISE_URLS", f"phones=ntfys://ntfy.sh/stores ops=mmosts://mm.example.com/{TOKEN}"
        )
        self.assertEqual(good.status_code, 200, good.content)
        self.assertNotIn(TOKEN, json.dumps(good.json()))  # protected: never shown back
        routes = json.dumps([{"category": "part.notify_low_stock", "to": ["apprise:phones"]}])
        self.assertEqual(self.patch("ROUTES", routes).status_code, 200)
        health = self.client.get(API + "health/").json()
        keys = {d["key"] for d in health["destinations"]}
        self.assertLessEqual({"apprise:phones", "apprise:ops"}, keys)
        self.assertNotIn(TOKEN, json.dumps(health))
        editor = self.client.get(API + "routes/").json()  # the routes editor offers them
        self.assertLessEqual(
            {"apprise:phones", "apprise:ops"}, {d["key"] for d in editor["destinations"]}
        )
        self.assertNotIn(TOKEN, json.dumps(editor))

    def test_send_test_shows_the_services_answer(self):
        ntfy = self.enterContext(AppriseStandIn("ntfy"))
        self.loopback(ntfy)
        self.plugin.set_setting("APPRISE_URLS", f"phones={ntfy.url}")
        DestinationState.objects.filter(destination="apprise:phones").delete()
        sent = self.client.post(
            API + "test/apprise/", {"destination": "phones"}, content_type="application/json"
        )
        self.assertEqual(sent.status_code, 200, sent.content)
        answer = sent.json()
        self.assertEqual(answer["outcome"], "sent")
        self.assertEqual(answer["status"], 200)
        self.assertIn("ntfy: SUCCESS", answer["detail"])
        self.assertEqual(ntfy.titles(), ["Notify Plus test message"])
        ntfy.then(Answer(404, {"code": 40401, "http": 404, "error": "topic not found"}))
        DestinationState.objects.filter(destination="apprise:phones").delete()
        refused = self.client.post(
            API + "test/apprise/", {"destination": "phones"}, content_type="application/json"
        ).json()
        self.assertEqual(refused["outcome"], "permanent")
        self.assertEqual(refused["status"], 404)
        self.assertIn("topic not found", refused["detail"])
        self.assertNotIn(TOKEN, json.dumps([answer, refused]))

    def test_add_destination_form_validates_then_saves_through_the_setting(self):
        mattermost = self.enterContext(AppriseStandIn("mattermost"))
        self.loopback(mattermost)
        self.client.force_login(self.user)  # staff, not superuser
        kinds = self.client.get(API + "admin/destinations/kinds/").json()["kinds"]
        self.assertEqual([k["kind"] for k in kinds][:1], ["apprise"])

        def check(**data):
            return self.client.post(
                API + "admin/destinations/validate/", data, content_type="application/json"
            ).json()

        bad = check(kind="apprise", name="ops", url="mmost://")
        self.assertEqual((bad["valid"], bad["field"]), (False, "url"))
        self.assertIn("could not read", bad["error"])
        self.assertEqual(check(kind="apprise", name="no good", url=mattermost.url)["field"], "name")
        self.assertTrue(check(kind="apprise", name="ops", url=mattermost.url)["valid"])
        added = self.client.post(
            API + "admin/destinations/",
            {"kind": "apprise", "name": "ops", "url": mattermost.url},
            content_type="application/json",
        )
        self.assertEqual(added.status_code, 201, added.content)
        self.assertEqual(added.json()["key"], "apprise:ops")
        self.assertNotIn(TOKEN, json.dumps(added.json()))
        self.assertEqual(
            self.plugin.get_setting("APPRISE_URLS", cache=False), f"ops={mattermost.url}"
        )
        again = check(kind="apprise", name="ops", url=mattermost.url)
        self.assertEqual((again["valid"], again["field"]), (False, "name"))
        sent = self.client.post(
            API + "test/apprise/", {"destination": "ops"}, content_type="application/json"
        ).json()
        self.assertEqual(sent["outcome"], "sent", sent)
        self.assertEqual(len(mattermost.accepted), 1)

    def test_plain_users_may_not_use_the_form(self):
        plain = User.objects.create_user("applain", "applain@example.com", "x")
        self.client.force_login(plain)
        for url in (
            "admin/destinations/kinds/",
            "admin/destinations/validate/",
            "admin/destinations/",
        ):
            with self.subTest(url=url):
                method = self.client.get if url.endswith("kinds/") else self.client.post
                self.assertEqual(method(API + url).status_code, 403)
