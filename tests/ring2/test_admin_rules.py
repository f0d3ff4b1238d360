"""Ring 2: the admin API follows InvenTree's rules, admins are told, typos are refused (issue 15).

    INVENTREE_PLUGINS_ENABLED=True INVENTREE_PLUGIN_TESTING=True INVENTREE_PLUGIN_TESTING_SETUP=True \
      PYTHONPATH=/path/to/inventree-notify-plus python manage.py test tests.ring2.test_admin_rules

Through InvenTree's own URLs and authentication: OAuth2 tokens with InvenTree's scopes and
InvenTree API tokens, InvenTree's plugin settings API (validators on save) and its plugin
activation API. Webhooks go to a loopback stand-in only.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from unittest import mock

from django.contrib.auth.models import Group, User
from django.test import Client, RequestFactory
from django.urls import resolve
from django.utils import timezone
from InvenTree.unit_test import InvenTreeTestCase
from part.models import Part, PartCategory, PartStar
from plugin import registry

from inventree_notify_plus.devtools.standins import WebhookStandIn
from inventree_notify_plus.models import Delivery, DestinationState
from inventree_notify_plus.validation import ALLOWED_HOSTS_ENV

API = "/plugin/notify-plus/"
SETTINGS = "/api/plugins/notify-plus/settings/"
SLACK = "https://hooks.slack.com/services/T0/B0/rulessecret"
INVENTREE_SLACK = "inventree-slack-notification"


def _enqueue_one(status: str = "failed", error: str = "HTTP 500 from Slack") -> Delivery:
    from inventree_notify_plus.notice import Notice
    from inventree_notify_plus.outbox.store import enqueue
    from inventree_notify_plus.routing.plan import PlannedDelivery

    enqueue(
        Notice(uid="rules-1", category="part.notify_low_stock", title="Low stock: M3", summary=""),
        [PlannedDelivery("slack", "slack:default", "slack 'default'")],
    )
    Delivery.objects.update(status=status, attempts=5, last_error=error)
    return Delivery.objects.get()


class AdminRules(InvenTreeTestCase):
    """Staff user ``self.user`` (InvenTree's test user), a superuser, a viewer and a stranger."""

    roles = ["part.view", "part_category.view"]

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        registry.set_plugin_state("notify-plus", True)
        cls.plugin = registry.get_plugin("notify-plus", active=None)
        cls.boss = User.objects.create_superuser("rulesboss", "boss@example.com", "x")
        cls.viewer = User.objects.create_user("viewer", "viewer@example.com", "x")
        cls.viewer.groups.add(Group.objects.get(name=cls.group.name))
        cls.stranger = User.objects.create_user("stranger", "stranger@example.com", "x")
        cls.category = PartCategory.objects.create(name="Rules")
        cls.part = Part.objects.create(name="M3 rule", category=cls.category, minimum_stock=5)
        PartStar.objects.create(part=cls.part, user=cls.viewer)
        PartStar.objects.create(part=cls.part, user=cls.stranger)  # may not view parts

    def setUp(self):
        super().setUp()
        self.plugin.set_setting("SLACK_WEBHOOK_URL", SLACK)
        self.plugin.set_setting("SLACK_EXTRA_WEBHOOKS", "")
        self.plugin.set_setting("ROUTES", "")

    # -- helpers ---------------------------------------------------------------------------------

    def oauth_token(self, user: User, scope: str) -> str:
        """A real OAuth2 access token (django-oauth-toolkit, InvenTree's provider) of ``scope``."""
        from oauth2_provider.models import get_access_token_model, get_application_model

        application = get_application_model().objects.create(
            name=f"rules-{user.username}-{scope}",
            user=user,
            client_type="confidential",
            authorization_grant_type="client-credentials",
        )
        token = get_access_token_model().objects.create(
            user=user,
            application=application,
            token=f"rules-{user.pk}-{scope.replace(':', '-').replace(' ', '_')}",
            expires=timezone.now() + timedelta(hours=1),
            scope=scope,
        )
        return token.token

    def as_oauth(self, token: str, method: str, url: str) -> int:
        """Our view as DRF runs it, authenticated by InvenTree's OAuth2 class alone.

        Through InvenTree's full stack an OAuth2 token never gets this far on /plugin/ URLs:
        InvenTree 1.5's AuthRequiredMiddleware answers 401 first (it knows sessions and API
        tokens only; see test_inventree_middleware_turns_oauth_tokens_away_from_plugin_urls).
        The view's own check is what holds if a request does get through.
        """
        path, _, query = url.partition("?")
        request = getattr(RequestFactory(), method)(
            API + path,
            dict(p.split("=") for p in query.split("&")) if query else None,
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        match = resolve(API + path)
        response = match.func(request, **match.kwargs)
        response.render()
        return response.status_code

    def api_token_client(self, user: User) -> Client:
        """A client with an InvenTree API token (no scopes: the user's rights decide)."""
        from users.models import ApiToken

        token = ApiToken.objects.create(user=user, name="rules")
        return Client(HTTP_AUTHORIZATION=f"Token {token.key}")

    # -- 7. permissions honour InvenTree's token and OAuth2 scopes ------------------------------

    def test_staff_read_scoped_oauth_token_reads_but_cannot_change(self):
        row = _enqueue_one()
        reader = self.oauth_token(self.user, "g:read")
        for url in ("health/", "deliveries/", "routes/", f"preview/?part={self.part.pk}"):
            with self.subTest(url=url):
                self.assertEqual(self.as_oauth(reader, "get", url), 200)
        self.assertEqual(self.as_oauth(reader, "post", f"deliveries/{row.pk}/resend/"), 403)
        self.assertEqual(self.as_oauth(reader, "post", "test/slack/"), 403)
        self.assertEqual(self.as_oauth(reader, "post", "routes/"), 403)
        self.assertEqual(Delivery.objects.get().status, "failed")  # nothing was requeued

    def test_staff_oauth_token_with_staff_scope_may_resend(self):
        row = _enqueue_one()
        writer = self.oauth_token(self.user, "g:read a:staff")
        self.assertEqual(self.as_oauth(writer, "post", f"deliveries/{row.pk}/resend/"), 200)
        self.assertEqual(Delivery.objects.get().status, "pending")

    def test_a_staff_scope_does_not_make_a_plain_user_staff(self):
        token = self.oauth_token(self.viewer, "g:read a:staff")
        self.assertEqual(self.as_oauth(token, "get", "health/"), 403)
        self.assertEqual(self.as_oauth(token, "post", "test/slack/"), 403)

    def test_per_user_endpoints_keep_their_own_user_rules_with_a_read_token(self):
        reader = self.oauth_token(self.viewer, "g:read")
        self.assertEqual(self.as_oauth(reader, "get", "mine/"), 200)
        self.assertEqual(self.as_oauth(reader, "get", "locations/"), 200)
        self.assertEqual(self.as_oauth(reader, "get", "health/"), 403)  # not staff
        self.assertEqual(
            self.as_oauth(self.oauth_token(self.viewer, "openid"), "get", "mine/"), 403
        )

    def test_inventree_middleware_turns_oauth_tokens_away_from_plugin_urls(self):
        """InvenTree 1.5 itself: /plugin/ URLs take sessions and API tokens, not OAuth2 tokens."""
        row = _enqueue_one()
        writer = Client(HTTP_AUTHORIZATION=f"Bearer {self.oauth_token(self.user, 'a:staff')}")
        self.assertEqual(writer.get(API + "health/").status_code, 401)
        self.assertEqual(writer.post(f"{API}deliveries/{row.pk}/resend/").status_code, 401)
        self.assertEqual(Delivery.objects.get().status, "failed")

    def test_inventree_api_token_acts_as_its_user(self):
        row = _enqueue_one()
        self.assertEqual(self.api_token_client(self.viewer).get(API + "health/").status_code, 403)
        staff = self.api_token_client(self.user)
        self.assertEqual(staff.get(API + "health/").status_code, 200)
        self.assertEqual(staff.post(f"{API}deliveries/{row.pk}/resend/").status_code, 200)

    # -- resend keeps created_at and records who resent it --------------------------------------

    def test_resend_keeps_created_at_and_records_the_resend(self):
        row = _enqueue_one(status="unknown", error="worker died mid-send")
        created = timezone.now() - timedelta(days=3)
        Delivery.objects.filter(pk=row.pk).update(created_at=created)
        answer = self.client.post(f"{API}deliveries/{row.pk}/resend/")
        self.assertEqual(answer.status_code, 200)
        row.refresh_from_db()
        self.assertEqual(row.created_at, created)
        self.assertEqual((row.status, row.attempts), ("pending", 0))
        self.assertEqual(len(row.resends), 1)
        record = row.resends[0]
        self.assertEqual(
            (record["by"], record["status"], record["error"]),
            (self.user.username, "unknown", "worker died mid-send"),
        )
        self.assertGreaterEqual(
            row.first_due_at, created + timedelta(days=3) - timedelta(minutes=1)
        )
        shown = self.client.get(API + "deliveries/").json()["results"][0]
        self.assertEqual(shown["created"], created.isoformat())
        self.assertRegex(
            shown["resent"], rf"^resent by {self.user.username} at \d{{4}}-\d\d-\d\d \d\d:\d\d UTC"
        )
        self.assertIn("(was unknown)", shown["resent"])
        again = self.client.post(f"{API}deliveries/{row.pk}/resend/")
        self.assertEqual(again.status_code, 400)
        self.assertIn("this one is pending", again.json()["error"])

    # -- preview lists only users who may view the object ---------------------------------------

    def test_preview_lists_only_users_who_may_view_the_part(self):
        answer = self.client.get(API + "preview/", {"part": self.part.pk}).json()
        self.assertEqual(answer["recipients"], ["viewer"])
        self.assertEqual(answer["left_out"], ["stranger (may not view it)"])
        emails = [d["destination"] for d in answer["deliveries"] if d["channel"] == "email"]
        self.assertEqual(len(emails), 1)
        self.assertTrue(emails[0].startswith("viewer "), emails)

    def test_preview_for_a_category_checks_view_permission_on_the_category(self):
        from part.models import PartCategoryStar

        PartCategoryStar.objects.create(category=self.category, user=self.stranger)
        PartCategoryStar.objects.create(category=self.category, user=self.viewer)
        answer = self.client.get(API + "preview/", {"part_category": self.category.pk}).json()
        self.assertEqual(answer["recipients"], ["viewer"])
        self.assertEqual(answer["left_out"], ["stranger (may not view it)"])

    # -- test sends go through the destination's rate limiter -----------------------------------

    def test_second_test_send_in_a_row_to_slack_must_wait(self):
        slack = self.enterContext(WebhookStandIn("slack"))
        self.enterContext(
            mock.patch.dict(os.environ, {ALLOWED_HOSTS_ENV: f"127.0.0.1:{slack.port}"})
        )
        self.plugin.set_setting("SLACK_EXTRA_WEBHOOKS", f"bench={slack.url}")
        DestinationState.objects.filter(destination="slack:bench").delete()
        first = self.client.post(
            API + "test/slack/", {"destination": "bench"}, content_type="application/json"
        )
        second = self.client.post(
            API + "test/slack/", {"destination": "bench"}, content_type="application/json"
        )
        self.assertEqual(first.status_code, 200, first.content)
        self.assertEqual(first.json()["outcome"], "sent")
        self.assertEqual(second.status_code, 429)
        answer = second.json()
        self.assertEqual(answer["outcome"], "rate limited")
        self.assertGreaterEqual(answer["retry_after"], 1)
        self.assertIn(f"retry in {answer['retry_after']} s", answer["detail"])
        self.assertEqual(second["Retry-After"], str(answer["retry_after"]))
        self.assertEqual(len(slack.accepted), 1)  # the second never reached Slack
        self.assertNotIn("SeCrEtToKeN", json.dumps(answer))

    # -- a missing plugin answers 503 with a reason ---------------------------------------------

    def test_inactive_plugin_answers_503_with_the_reason(self):
        """Deactivated in another process: this one still routes /plugin/notify-plus/ until its
        registry reloads, and the plugin lookup finds no active instance."""
        real = registry.get_plugin

        def inactive(slug, active=True, with_mixin=None):
            found = real(slug, active=None, with_mixin=with_mixin)
            return None if slug == "notify-plus" and active else found

        with mock.patch.object(registry, "get_plugin", side_effect=inactive):
            answer = self.client.get(API + "health/")
        self.assertEqual(answer.status_code, 503)
        self.assertIn("not active", answer.json()["detail"])
        self.assertIn("Settings > Plugins", answer.json()["detail"])

    def test_unloaded_plugin_answers_503_with_the_reason(self):
        with mock.patch.object(registry, "get_plugin", return_value=None):
            for method, url in (("get", "health/"), ("post", "test/slack/"), ("get", "mine/")):
                with self.subTest(url=url):
                    answer = getattr(self.client, method)(API + url)
                    self.assertEqual(answer.status_code, 503)
                    self.assertIn("not loaded", answer.json()["detail"])

    # -- 6. InvenTree's own Slack method beside Notify Plus -------------------------------------

    def test_health_names_inventree_slack_while_active_and_its_deactivation_clears_it(self):
        registry.set_plugin_state(INVENTREE_SLACK, True)
        try:
            registry.get_plugin(INVENTREE_SLACK).set_setting(
                "NOTIFICATION_SLACK_URL", "https://hooks.slack.com/services/T1/B1/itsown"
            )
            health = self.client.get(API + "health/").json()
            warning = [w for w in health["warnings"] if "InvenTree Slack Notifications" in w]
            self.assertEqual(len(warning), 1, health["warnings"])
            self.assertIn("every notice is posted twice", warning[0])
            self.assertIn("Deactivate", warning[0])
            self.assertEqual(health["inventree_slack"]["warning"], warning[0])
            self.assertFalse(health["inventree_slack"]["can_deactivate"])  # staff, not superuser
            self.assertNotIn("itsown", json.dumps(health))

            self.client.force_login(self.boss)
            fix = health["inventree_slack"]["deactivate_url"]
            self.assertTrue(
                self.client.get(API + "health/").json()["inventree_slack"]["can_deactivate"]
            )
            done = self.client.patch(fix, {"active": False}, content_type="application/json")
            self.assertEqual(done.status_code, 200, done.content)
            health = self.client.get(API + "health/").json()
            self.assertEqual(
                [w for w in health["warnings"] if "InvenTree Slack Notifications" in w], []
            )
            self.assertFalse(health["inventree_slack"]["active"])
        finally:
            registry.set_plugin_state(INVENTREE_SLACK, False)

    # -- refused on save through InvenTree's settings API ---------------------------------------

    def test_settings_refused_on_save_with_the_accepted_values(self):
        self.client.force_login(self.boss)
        ops = "https://hooks.slack.com/services/T0/B2/ops"
        cases = [
            (
                "ROUTES",
                json.dumps([{"category": "part.notify_low_stok", "to": "slack:default"}]),
                [
                    "unknown notification category 'part.notify_low_stok'",
                    "part.notify_low_stock",
                    "build.stock_required",
                    "stock.notify_stale_stock",
                ],
            ),
            (
                "SLACK_EXTRA_WEBHOOKS",
                f"ops={ops} ops={ops}",
                ["'ops' is given twice", "names so far: ops"],
            ),
            ("SLACK_EXTRA_WEBHOOKS", f"default={ops}", ["'default' is taken"]),
            (
                "DISCORD_EXTRA_WEBHOOKS",
                "default=https://discord.com/api/webhooks/1/x",
                ["'default' is taken", "'Discord webhook URL'"],
            ),
            ("RETRY_MAX_ATTEMPTS", "0", ["from 1 to 100"]),
            ("RETRY_MAX_HOURS", "0", ["from 1 to 168"]),
            ("GROUP_INTERVAL", "3601", ["from 0 to 3600; 0 means no grouping"]),
            ("NOTIFICATIONS_DELETE_DAYS", "-1", ["from 0 to 3650; 0 means keep everything"]),
        ]
        for key, value, says in cases:
            with self.subTest(key=key, value=value):
                before = self.plugin.get_setting(key, cache=False)
                answer = self.client.patch(
                    f"{SETTINGS}{key}/", {"value": value}, content_type="application/json"
                )
                self.assertEqual(answer.status_code, 400, answer.content)
                text = json.dumps(answer.json())
                for words in says:
                    self.assertIn(words, text)
                self.assertEqual(self.plugin.get_setting(key, cache=False), before)

        good = self.client.patch(
            f"{SETTINGS}ROUTES/",
            {"value": json.dumps([{"category": "part.notify_low_stock", "to": "slack:default"}])},
            content_type="application/json",
        )
        self.assertEqual(good.status_code, 200, good.content)
        self.assertEqual(
            self.client.patch(
                f"{SETTINGS}RETRY_MAX_ATTEMPTS/", {"value": "1"}, content_type="application/json"
            ).status_code,
            200,
        )

    def test_every_integer_setting_states_its_range(self):
        self.client.force_login(self.boss)
        settings = {s["key"]: s for s in self.client.get(SETTINGS).json()}
        for key, words in (
            ("GROUP_INTERVAL", "Range: 0 to 3600 (0 means no grouping)."),
            ("NOTIFICATIONS_DELETE_DAYS", "Range: 0 to 3650 (0 means keep everything)."),
            ("RETRY_MAX_ATTEMPTS", "Range: 1 to 100."),
            ("RETRY_MAX_HOURS", "Range: 1 to 168."),
        ):
            with self.subTest(key=key):
                self.assertIn(words, settings[key]["description"])
                self.assertEqual(settings[key]["type"], "integer")

    def test_stored_typos_are_reported_in_health(self):
        """Values saved before the validators refused them: sending goes on, the admin is told."""
        from plugin.models import PluginSetting

        config = self.plugin.plugin_config()
        ops = "https://hooks.slack.com/services/T0/B2/ops"
        PluginSetting.objects.filter(
            plugin=config, key__in=["SLACK_EXTRA_WEBHOOKS", "ROUTES"]
        ).delete()
        PluginSetting.objects.bulk_create(
            [
                PluginSetting(
                    plugin=config, key="SLACK_EXTRA_WEBHOOKS", value=f"ops={ops} ops={ops}x"
                ),
                PluginSetting(
                    plugin=config,
                    key="ROUTES",
                    value=json.dumps([{"category": "part.notify_low_stok", "to": "slack:ops"}]),
                ),
            ]
        )
        warnings = self.client.get(API + "health/").json()["warnings"]
        self.assertTrue(any("'ops' given twice" in w for w in warnings), warnings)
        self.assertTrue(
            any("'part.notify_low_stok'" in w and "part.notify_low_stock" in w for w in warnings),
            warnings,
        )
        self.assertEqual(
            [d["key"] for d in self.plugin.configured_destinations()],
            ["slack:default", "slack:ops"],
        )
