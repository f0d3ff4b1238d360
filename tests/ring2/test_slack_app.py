"""Ring 2: Slack app mode inside a real InvenTree.

    INVENTREE_PLUGINS_ENABLED=True INVENTREE_PLUGIN_TESTING=True INVENTREE_PLUGIN_TESTING_SETUP=True \
      PYTHONPATH=/path/to/inventree-notify-plus python manage.py test tests.ring2.test_slack_app

The bot token and app channels refused on save through InvenTree's settings API (a bad token, a
channel name instead of its id, a name a Slack webhook already has, in either order); the token
kept protected; *Send test* to an app channel posting through the Web API stand-in and showing
Slack's exact answer (``not_in_channel``, ``invalid_auth``).
"""

from __future__ import annotations

import json
import os
from unittest import mock

from django.contrib.auth.models import User
from InvenTree.unit_test import InvenTreeTestCase
from plugin import registry

from inventree_notify_plus.devtools.slack_api_standin import STANDIN_TOKEN, SlackApiStandIn
from inventree_notify_plus.models import DestinationState
from inventree_notify_plus.validation import ALLOWED_HOSTS_ENV, SLACK_API_URL_ENV

API = "/plugin/notify-plus/"
SETTINGS = "/api/plugins/notify-plus/settings/"
WEBHOOK = "https://hooks.slack.com/services/T0/B0/appsecret"
CHANNEL = "C0STANDIN1"


class SlackAppMode(InvenTreeTestCase):
    """The Slack app's settings and its Send test, through InvenTree's own APIs."""

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        registry.set_plugin_state("notify-plus", True)
        cls.plugin = registry.get_plugin("notify-plus", active=None)
        cls.boss = User.objects.create_superuser("slackboss", "slackboss@example.com", "x")

    def setUp(self):
        super().setUp()
        self.plugin.set_setting("SLACK_WEBHOOK_URL", "")
        self.plugin.set_setting("SLACK_EXTRA_WEBHOOKS", "")
        self.plugin.set_setting("SLACK_APP_CHANNELS", "")
        self.plugin.set_setting("SLACK_BOT_TOKEN", "")
        self.plugin.set_setting("ROUTES", "")
        self.client.force_login(self.boss)

    def patch(self, key: str, value: str):
        return self.client.patch(
            f"{SETTINGS}{key}/", {"value": value}, content_type="application/json"
        )

    def test_settings_refused_on_save_saying_what_is_wrong(self):
        self.plugin.set_setting("SLACK_EXTRA_WEBHOOKS", f"ops={WEBHOOK}")
        cases = [
            ("SLACK_BOT_TOKEN", "xoxp-1234567890-usersecret", ["not a bot token", "xoxb-"]),
            ("SLACK_BOT_TOKEN", "hunter2secret", ["looks like xoxb-"]),
            ("SLACK_APP_CHANNELS", "alerts=#alerts", ["not a Slack channel ID", "Channel ID"]),
            ("SLACK_APP_CHANNELS", "ops=C0123ABCD", ["'slack:ops'", "Rename one"]),
        ]
        for key, value, says in cases:
            with self.subTest(key=key, value=value):
                answer = self.patch(key, value)
                self.assertEqual(answer.status_code, 400, answer.content)
                text = json.dumps(answer.json())
                for words in says:
                    self.assertIn(words, text)
                self.assertNotIn("secret", text)
                self.assertEqual(self.plugin.get_setting(key, cache=False), "")

    def test_a_webhook_may_not_take_an_app_channels_name_either(self):
        self.assertEqual(
            self.patch("SLACK_APP_CHANNELS", "default=C0123ABCD ops=C0456EFGH").status_code, 200
        )
        for key, value in (
            ("SLACK_EXTRA_WEBHOOKS", f"ops={WEBHOOK}"),
            ("SLACK_WEBHOOK_URL", WEBHOOK),
        ):
            with self.subTest(key=key):
                answer = self.patch(key, value)
                self.assertEqual(answer.status_code, 400, answer.content)
                self.assertIn(
                    "both a Slack webhook destination and a Slack app channel",
                    json.dumps(answer.json()),
                )

    def test_routes_name_app_channels_and_the_token_stays_protected(self):
        self.assertEqual(self.patch("SLACK_BOT_TOKEN", STANDIN_TOKEN).status_code, 200)
        self.assertEqual(self.patch("SLACK_APP_CHANNELS", f"ops={CHANNEL}").status_code, 200)
        routes = json.dumps([{"category": "part.notify_low_stock", "to": "slack:ops"}])
        self.assertEqual(self.patch("ROUTES", routes).status_code, 200)
        listed = {s["key"]: s for s in self.client.get(SETTINGS).json()}
        self.assertNotIn("standin-token", json.dumps(listed))
        self.assertEqual(listed["SLACK_BOT_TOKEN"]["value"], "***", listed["SLACK_BOT_TOKEN"])
        self.assertEqual(self.plugin.get_setting("SLACK_BOT_TOKEN", cache=False), STANDIN_TOKEN)
        editor = self.client.get(API + "routes/").json()
        self.assertIn(
            {
                "key": "slack:ops",
                "kind": "slack",
                "name": "ops",
                "url": f"Slack app, channel {CHANNEL}",
            },
            editor["destinations"],
        )
        self.assertNotIn("standin-token", json.dumps(editor))

    def test_send_test_posts_through_the_app_and_shows_slacks_answer(self):
        api = self.enterContext(SlackApiStandIn(channels=(CHANNEL,), outside=("C0OUTSIDE1",)))
        self.enterContext(
            mock.patch.dict(
                os.environ, {ALLOWED_HOSTS_ENV: "127.0.0.1", SLACK_API_URL_ENV: api.url}
            )
        )
        self.plugin.set_setting("SLACK_BOT_TOKEN", api.token)
        self.plugin.set_setting("SLACK_APP_CHANNELS", f"ops={CHANNEL} lounge=C0OUTSIDE1")

        def send(name: str):
            DestinationState.objects.filter(destination=f"slack:{name}").delete()
            return self.client.post(
                API + "test/slack/", {"destination": name}, content_type="application/json"
            )

        sent = send("ops")
        self.assertEqual(sent.status_code, 200, sent.content)
        self.assertEqual(sent.json()["outcome"], "sent")
        self.assertEqual(sent.json()["destination"], f"slack app 'ops' (#{CHANNEL})")
        [message] = api.posts(CHANNEL)
        self.assertEqual(message["blocks"][0]["text"]["text"], "Notify Plus test message")
        self.assertIn(message["ts"], sent.json()["detail"])

        refused = send("lounge").json()
        self.assertEqual(refused["outcome"], "permanent")
        self.assertTrue(refused["detail"].startswith("not_in_channel"), refused)

        self.plugin.set_setting("SLACK_BOT_TOKEN", "xoxb-1111111111-revoked-token")
        refused = send("ops").json()
        self.assertTrue(refused["detail"].startswith("invalid_auth"), refused)
        for answer in (sent.json(), refused):
            self.assertNotIn("token", json.dumps(answer).replace("bot token", ""))
        self.assertEqual(len(api.posts()), 1)
