"""Ring 2: the endpoints and UI features behind Notify Plus's web UI, inside a real InvenTree.

    INVENTREE_PLUGINS_ENABLED=True INVENTREE_PLUGIN_TESTING=True INVENTREE_PLUGIN_TESTING_SETUP=True \
      PYTHONPATH=/path/to/inventree-notify-plus python manage.py test tests.ring2.test_ui_api

What an admin and a plain user see: the admin console's health, delivery log, routes editor and
preview; each user's panels and 'My notifications'; and that no webhook URL or other user's
address reaches the browser.
"""

from __future__ import annotations

import json

from django.contrib.auth.models import Group, User
from InvenTree.unit_test import InvenTreeTestCase
from part.models import Part, PartCategory, PartCategoryStar, PartStar
from plugin import registry
from stock.models import StockItem, StockLocation

from inventree_notify_plus.models import Delivery, LocationSubscription

SLACK = "https://hooks.slack.com/services/T0/B0/uisecret"
SLACK_OPS = "https://hooks.slack.com/services/T0/B1/opssecret"
DISCORD = "https://discord.com/api/webhooks/1/uisecret"
SECRETS = ("uisecret", "opssecret", "T0/B0", "webhooks/1/")
API = "/plugin/notify-plus/"


class NotifyPlusWebUI(InvenTreeTestCase):
    """Each endpoint the frontend calls, as the admin and as a plain user."""

    roles = ["part.view", "part.change", "part_category.view", "stock.view", "stock_location.view"]

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        registry.set_plugin_state("notify-plus", True)
        cls.plugin = registry.get_plugin("notify-plus", active=None)
        cls.mech = PartCategory.objects.create(name="Mechanical")
        cls.fasteners = PartCategory.objects.create(name="Fasteners", parent=cls.mech)
        cls.template = Part.objects.create(
            name="Screw", category=cls.fasteners, is_template=True, component=True
        )
        cls.part = Part.objects.create(
            name="M3 screw",
            category=cls.fasteners,
            variant_of=cls.template,
            minimum_stock=10,
            component=True,
        )
        cls.store = StockLocation.objects.create(name="Store")
        cls.shelf = StockLocation.objects.create(name="Shelf A", parent=cls.store)
        StockItem.objects.create(part=cls.part, location=cls.shelf, quantity=3)
        cls.admin = User.objects.create_superuser("uiadmin", "uiadmin@example.com", "x")
        cls.plain = User.objects.create_user("plain", "plain@example.com", "x")
        cls.other = User.objects.create_user("other", "other-person@example.com", "x")
        viewers = Group.objects.get(name=cls.group.name)
        for user in (cls.plain, cls.other):
            user.groups.add(viewers)
        PartCategoryStar.objects.create(category=cls.mech, user=cls.plain)
        PartStar.objects.create(part=cls.template, user=cls.plain)
        PartStar.objects.create(part=cls.part, user=cls.other)

    def setUp(self):
        super().setUp()
        self.plugin.set_setting("SLACK_WEBHOOK_URL", SLACK)
        self.plugin.set_setting("SLACK_EXTRA_WEBHOOKS", f"ops={SLACK_OPS}")
        self.plugin.set_setting("DISCORD_WEBHOOK_URL", DISCORD)
        self.plugin.set_setting("ROUTES", "")

    def as_admin(self):
        self.client.force_login(self.admin)

    def as_plain(self):
        self.client.force_login(self.plain)

    def assert_no_secret(self, answer) -> None:
        text = answer if isinstance(answer, str) else json.dumps(answer)
        for secret in SECRETS:
            self.assertNotIn(secret, text)

    # -- the admin console ---------------------------------------------------------------------

    def test_admin_endpoints_refuse_plain_users(self):
        self.as_plain()
        for method, url in (
            ("get", "health/"),
            ("get", "deliveries/"),
            ("get", "routes/"),
            ("post", "routes/"),
            ("post", "pick/"),
            ("get", f"preview/?part={self.part.pk}"),
            ("post", "test/slack/"),
        ):
            with self.subTest(url=url):
                self.assertEqual(getattr(self.client, method)(API + url).status_code, 403)

    def test_health_says_what_is_off_email_handover_and_last_day(self):
        from common.settings import set_global_setting

        from inventree_notify_plus.notice import Notice
        from inventree_notify_plus.outbox.store import enqueue
        from inventree_notify_plus.routing.plan import PlannedDelivery

        enqueue(
            Notice(uid="h1", category="part.notify_low_stock", title="Low stock: M3", summary=""),
            [PlannedDelivery("slack", "slack:default", "slack 'default'")],
        )
        Delivery.objects.update(status="failed")
        set_global_setting("ENABLE_PLUGINS_SCHEDULE", False)
        self.as_admin()
        answer = self.client.get(API + "health/").json()
        self.assertTrue(any("schedule" in w for w in answer["warnings"]), answer["warnings"])
        self.assertEqual(answer["last_24h"]["failed"], 1)
        self.assertEqual(answer["last_24h"]["sent"], 0)
        self.assertEqual(set(answer["email"]), {"notify_plus", "inventree", "no_email"})
        self.assertEqual(
            [d["key"] for d in answer["destinations"]],
            ["slack:default", "slack:ops", "discord:default"],
        )
        self.assert_no_secret(answer)

    def test_delivery_log_searches_filters_sorts_and_pages(self):
        from inventree_notify_plus.notice import Notice
        from inventree_notify_plus.outbox.store import enqueue
        from inventree_notify_plus.routing.plan import PlannedDelivery

        for n, (title, dest) in enumerate(
            [("Low stock: M3 screw", "slack:default"), ("Low stock: M4 nut", "slack:ops")]
        ):
            enqueue(
                Notice(uid=f"d{n}", category="part.notify_low_stock", title=title, summary=""),
                [PlannedDelivery("slack", dest, f"slack '{dest}'")],
            )
        Delivery.objects.filter(destination="slack:ops").update(status="failed", attempts=3)
        self.as_admin()
        rows = self.client.get(API + "deliveries/", {"search": "m4 NUT"}).json()
        self.assertEqual([r["notification"] for r in rows["results"]], ["Low stock: M4 nut"])
        rows = self.client.get(API + "deliveries/", {"destination": "slack:default"}).json()
        self.assertEqual([r["notification"] for r in rows["results"]], ["Low stock: M3 screw"])
        rows = self.client.get(API + "deliveries/", {"status": "failed"}).json()
        self.assertEqual(rows["count"], 1)
        rows = self.client.get(API + "deliveries/", {"ordering": "-attempts", "limit": 1}).json()
        self.assertEqual((rows["count"], len(rows["results"])), (2, 1))
        self.assertEqual(rows["results"][0]["attempts"], 3)
        rows = self.client.get(API + "deliveries/", {"ordering": "attempts", "offset": 1}).json()
        self.assertEqual(rows["results"][0]["attempts"], 3)
        self.assertEqual(rows["results"][0]["pk"], rows["results"][0]["id"])

    def test_routes_editor_rows_and_validation_match_saving(self):
        self.plugin.set_setting(
            "ROUTES",
            json.dumps(
                [
                    {
                        "category": "part.notify_low_stock",
                        "part_category": [self.mech.pk],
                        "to": "slack:ops",
                    }
                ]
            ),
        )
        self.as_admin()
        answer = self.client.get(API + "routes/").json()
        self.assertEqual(
            answer["routes"],
            [
                {
                    "category": ["part.notify_low_stock"],
                    "part_category": [self.mech.pk],
                    "location": [],
                    "to": ["slack:ops"],
                    "continue": False,
                }
            ],
        )
        self.assertEqual(answer["names"]["part_category"], {str(self.mech.pk): "Mechanical"})
        self.assertIn("part.notify_low_stock", [c["value"] for c in answer["categories"]])
        self.assertIsNone(answer["error"])
        self.assert_no_secret(answer)

        good = {
            "category": [],
            "part_category": [],
            "location": [self.store.pk],
            "to": ["slack:ops"],
        }
        checked = self.client.post(
            API + "routes/", {"routes": [good]}, content_type="application/json"
        ).json()
        self.assertEqual(checked["error"], None)
        self.assertEqual(
            json.loads(checked["value"]), [{"location": [self.store.pk], "to": ["slack:ops"]}]
        )

        bad = {**good, "to": ["slack:nowhere"]}
        checked = self.client.post(
            API + "routes/", {"routes": [good, bad]}, content_type="application/json"
        ).json()
        self.assertFalse(checked["valid"])
        self.assertIn("Route 2: unknown destination 'slack:nowhere'", checked["error"])
        saved = self.client.patch(
            "/api/plugins/notify-plus/settings/ROUTES/",
            {"value": checked["value"]},
            content_type="application/json",
        )
        self.assertEqual(saved.status_code, 400)
        self.assertIn(checked["error"], json.dumps(saved.json()))

        empty = {**good, "location": []}
        checked = self.client.post(
            API + "routes/", {"routes": [empty]}, content_type="application/json"
        ).json()
        self.assertIn("Route 1 matches nothing in particular", checked["error"])

    def test_pick_names_what_the_related_field_chose(self):
        self.as_admin()
        answer = self.client.post(API + "pick/", {"part_category": self.fasteners.pk}).json()
        self.assertEqual(
            answer,
            {"field": "part_category", "pk": self.fasteners.pk, "name": "Mechanical/Fasteners"},
        )
        answer = self.client.post(API + "pick/", {"location": self.shelf.pk}).json()
        self.assertEqual(answer["name"], "Store/Shelf A")
        answer = self.client.post(API + "pick/", {"part": self.part.pk}).json()
        self.assertEqual((answer["field"], answer["pk"]), ("part", self.part.pk))
        missing = self.client.post(API + "pick/", {"location": 99999})
        self.assertEqual(missing.status_code, 400)
        self.assertIn("location", missing.json())

    # -- each user ------------------------------------------------------------------------------

    def test_part_panel_says_through_which_star_and_where_notices_go(self):
        self.plugin.set_setting(
            "ROUTES",
            json.dumps(
                [
                    {"part_category": [self.mech.pk], "to": "slack:ops", "continue": True},
                    {"location": [self.store.pk], "to": "discord:default"},
                    {"part_category": [9999], "to": "slack:ops"},
                ]
            ),
        )
        LocationSubscription.objects.create(user=self.plain, location_id=self.store.pk)
        self.as_plain()
        answer = self.client.get(API + "here/", {"model": "part", "id": self.part.pk}).json()
        self.assertTrue(answer["subscribed"])
        stars = {(v["star"], v["name"]) for v in answer["via"]}
        self.assertEqual(
            stars,
            {
                ("a template above it", "Screw"),
                ("its category or a parent", "Mechanical"),
                ("a location holding its stock", "Store"),
            },
        )
        self.assertEqual([r["route"] for r in answer["routes"]], [1, 2])
        self.assertEqual(answer["default_destinations"], ["slack:default", "discord:default"])
        self.assertNotIn("other-person", json.dumps(answer))
        self.assert_no_secret(answer)

    def test_category_and_location_panels_and_location_subscribe(self):
        self.as_plain()
        answer = self.client.get(
            API + "here/", {"model": "partcategory", "id": self.fasteners.pk}
        ).json()
        self.assertEqual(
            [(v["star"], v["name"]) for v in answer["via"]],
            [("its category or a parent", "Mechanical")],
        )
        answer = self.client.get(
            API + "here/", {"model": "stocklocation", "id": self.shelf.pk}
        ).json()
        self.assertEqual((answer["subscribed"], answer["location_subscription"]), (False, False))
        self.client.post(
            API + "locations/", {"location": self.shelf.pk}, content_type="application/json"
        )
        answer = self.client.get(
            API + "here/", {"model": "stocklocation", "id": self.shelf.pk}
        ).json()
        self.assertTrue(answer["location_subscription"])
        self.assertEqual(
            [(v["star"], v["name"]) for v in answer["via"]], [("this location", "Store/Shelf A")]
        )
        missing = self.client.get(API + "here/", {"model": "stocklocation", "id": 99999})
        self.assertEqual(missing.status_code, 404)
        self.assertEqual(
            self.client.get(API + "here/", {"model": "user", "id": 1}).status_code, 404
        )

    def test_mine_lists_only_my_subscriptions_with_links(self):
        LocationSubscription.objects.create(user=self.plain, location_id=self.store.pk)
        self.as_plain()
        answer = self.client.get(API + "mine/").json()
        self.assertEqual([p["name"] for p in answer["parts"]], ["Screw"])
        self.assertEqual(answer["parts"][0]["link"], f"/part/{self.template.pk}/")
        self.assertEqual(
            [c["link"] for c in answer["categories"]], [f"/part/category/{self.mech.pk}/"]
        )
        self.assertEqual(
            [loc["link"] for loc in answer["locations"]], [f"/stock/location/{self.store.pk}/"]
        )
        self.assertIn("NOTIFY_PLUS_EMAIL", answer["settings"])
        self.assertNotIn("M3 screw", json.dumps(answer))  # other's star

    def test_ui_features_offered_by_page_and_user(self):
        from common.settings import set_global_setting

        set_global_setting("ENABLE_PLUGINS_INTERFACE", True)
        self.as_plain()
        features = self.client.get(
            "/api/plugins/ui/features/panel/",
            {"target_model": "stocklocation", "target_id": self.store.pk},
        ).json()
        mine = [f for f in features if f["plugin_name"] == "notify-plus"]
        self.assertEqual([f["key"] for f in mine], ["notify-plus"])
        self.assertIn("Panel", mine[0]["source"])
        features = self.client.get(
            "/api/plugins/ui/features/panel/", {"target_model": "salesorder", "target_id": 1}
        ).json()
        self.assertEqual([f for f in features if f["plugin_name"] == "notify-plus"], [])
        items = self.client.get("/api/plugins/ui/features/dashboard/").json()
        self.assertIn("notify-plus-mine", [f["key"] for f in items])
        self.assertEqual(self.client.get("/api/plugins/notify-plus/admin/").status_code, 403)
        self.as_admin()
        admin = self.client.get("/api/plugins/notify-plus/admin/").json()
        self.assertIn("Admin", admin["source"])
        self.assertTrue(admin["source"].endswith(":renderPluginSettings"))

    def test_no_webhook_url_in_any_answer(self):
        self.plugin.set_setting(
            "ROUTES", json.dumps([{"location": [self.store.pk], "to": "slack:ops"}])
        )
        self.as_admin()
        for url in (
            API + "health/",
            API + "deliveries/",
            API + "routes/",
            API + f"preview/?part={self.part.pk}",
            API + f"here/?model=part&id={self.part.pk}",
            API + "mine/",
            "/api/plugins/notify-plus/settings/",
            "/api/plugins/notify-plus/admin/",
        ):
            with self.subTest(url=url):
                answer = self.client.get(url)
                self.assertEqual(answer.status_code, 200, answer.content[:200])
                self.assert_no_secret(answer.content.decode())
