"""Ring 2: silences and snoozes inside a real InvenTree (issue 19, parts 1 and 2).

    INVENTREE_PLUGINS_ENABLED=True INVENTREE_PLUGIN_TESTING=True INVENTREE_PLUGIN_TESTING_SETUP=True \
      PYTHONPATH=/path/to/inventree-notify-plus python manage.py test tests.ring2.test_silences

InvenTree's low-stock notices through the plugin, InvenTree's part-category and stock-location
trees, the staff API, the snooze page with InvenTree's sessions and CSRF, and the email that
arrives (Django's test mail outbox). Nothing is sent to Slack or Discord: none is configured.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from datetime import timedelta
from unittest import mock

from django.contrib.auth.models import Group, User
from django.core import mail
from django.test import override_settings
from django.utils import timezone
from InvenTree.unit_test import InvenTreeTestCase
from part.models import Part, PartCategory, PartStar
from plugin import registry
from stock.models import StockItem, StockLocation

from inventree_notify_plus import snoozing
from inventree_notify_plus.inventree.worker_dispatcher import build_dispatcher
from inventree_notify_plus.models import Delivery, NoticeRecord, Silence, Snooze
from inventree_notify_plus.notice import Notice
from inventree_notify_plus.outbox.store import enqueue
from inventree_notify_plus.routing.plan import PlannedDelivery

API = "/plugin/notify-plus/"
SITE = "http://testserver"
LOW = "part.notify_low_stock"


@override_settings(SITE_URL=SITE)
class SilencesAndSnoozes(InvenTreeTestCase):
    """Two parts in a category tree, stocked in a location tree, starred by alice and bob."""

    roles = ["part.view", "stock.view", "stock_location.view", "part_category.view"]

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        registry.set_plugin_state("notify-plus", True)
        cls.plugin = registry.get_plugin("notify-plus", active=None)
        cls.mech = PartCategory.objects.create(name="Mechanical")
        cls.fasteners = PartCategory.objects.create(name="Fasteners", parent=cls.mech)
        cls.electrical = PartCategory.objects.create(name="Electrical")
        cls.store = StockLocation.objects.create(name="Store")
        cls.shelf = StockLocation.objects.create(name="Shelf A", parent=cls.store)
        cls.lab = StockLocation.objects.create(name="Lab")
        cls.screw = Part.objects.create(name="M3 screw", category=cls.fasteners, minimum_stock=10)
        cls.fuse = Part.objects.create(name="Fuse 1A", category=cls.electrical, minimum_stock=10)
        StockItem.objects.create(part=cls.screw, location=cls.shelf, quantity=3)
        StockItem.objects.create(part=cls.fuse, location=cls.lab, quantity=2)
        cls.admin = User.objects.create_superuser("siladmin", "siladmin@example.com", "x")
        viewers = Group.objects.get(name=cls.group.name)
        cls.alice = User.objects.create_user("alice", "alice@example.com", "x")
        cls.bob = User.objects.create_user("bob", "bob@example.com", "x")
        for person in (cls.alice, cls.bob):
            person.groups.add(viewers)
            for part in (cls.screw, cls.fuse):
                PartStar.objects.create(part=part, user=person)

    def setUp(self):
        super().setUp()
        for key, value in (
            ("NOTIFICATIONS_LOW_STOCK", True),
            ("SLACK_WEBHOOK_URL", ""),
            ("SLACK_EXTRA_WEBHOOKS", ""),
            ("DISCORD_WEBHOOK_URL", ""),
            ("ROUTES", ""),
            ("GROUP_INTERVAL", 0),
        ):
            self.plugin.set_setting(key, value)
        mail.outbox = []
        drain = mock.patch("inventree_notify_plus.inventree.wakeup.request_drain")
        drain.start()
        self.addCleanup(drain.stop)

    # -- helpers -------------------------------------------------------------------------

    def low(self, part: Part) -> None:
        """InvenTree's low-stock notification of ``part`` to both subscribers."""
        context = {"part": part, "link": "x", "template": {"html": "x", "subject": "x"}}
        self.plugin.send_notification(part, LOW, [self.alice, self.bob], context)

    def drain(self) -> None:
        build_dispatcher(self.plugin).drain(budget_seconds=5, wait=False)

    def mailed(self, person: User) -> list[str]:
        return [m.subject for m in mail.outbox if person.email in m.to]

    def create(self, **fields) -> dict:
        self.client.force_login(self.admin)
        body = {"ends": (timezone.now() + timedelta(hours=2)).isoformat(), **fields}
        answer = self.client.post(f"{API}silences/", body, content_type="application/json")
        self.assertEqual(answer.status_code, 201, answer.content)
        return answer.json()

    # -- matching ------------------------------------------------------------------------

    def assert_held_by(self, silence: dict, held: Part, sent: Part) -> None:
        self.low(held)
        self.low(sent)
        self.drain()
        rows = Delivery.objects.filter(title=f"Low stock: {held.full_name}")
        self.assertEqual({(r.status, r.silence_id) for r in rows}, {("silenced", silence["id"])})
        self.assertEqual(self.mailed(self.alice), [f"[InvenTree] Low stock: {sent.full_name}"])

    def test_a_parent_category_holds_its_childrens_parts(self):
        self.assert_held_by(self.create(part_category=self.mech.pk), self.screw, self.fuse)

    def test_a_parent_location_holds_parts_stocked_below_it(self):
        self.assert_held_by(self.create(location=self.store.pk), self.screw, self.fuse)

    def test_a_part(self):
        self.assert_held_by(self.create(part=self.fuse.pk), self.fuse, self.screw)

    def test_a_category_and_a_destination_must_both_match(self):
        silence = self.create(category=LOW, destination=f"email:user:{self.alice.pk}")
        self.low(self.screw)
        self.drain()
        alice = Delivery.objects.get(destination=f"email:user:{self.alice.pk}")
        self.assertEqual((alice.status, alice.silence_id), ("silenced", silence["id"]))
        self.assertEqual(self.mailed(self.alice), [])
        self.assertEqual(self.mailed(self.bob), ["[InvenTree] Low stock: M3 screw"])

    # -- the API ---------------------------------------------------------------------------

    def test_bad_silences_are_refused_with_the_reason(self):
        self.client.force_login(self.admin)
        soon = (timezone.now() + timedelta(hours=1)).isoformat()
        cases = {
            "criteria": {"ends": soon},
            "part": {"part": 999999, "ends": soon},
            "location": {"location": "shelf", "ends": soon},
            "category": {"category": "part.notify_low_stok", "ends": soon},
            "destination": {"destination": "slack:nowhere", "ends": soon},
            "ends": {"part": self.screw.pk, "ends": "2020-01-01T00:00:00Z"},
        }
        for field, body in cases.items():
            answer = self.client.post(f"{API}silences/", body, content_type="application/json")
            self.assertEqual(answer.status_code, 400, field)
            self.assertIn(field, answer.json()["errors"], answer.json())
        before = {"part": self.screw.pk, "starts": soon, "ends": soon}
        answer = self.client.post(f"{API}silences/", before, content_type="application/json")
        self.assertIn("after starts", answer.json()["errors"]["ends"])
        self.assertEqual(Silence.objects.count(), 0)

    def test_only_staff_may_silence(self):
        self.client.force_login(self.alice)
        answer = self.client.post(
            f"{API}silences/",
            {"part": self.screw.pk, "ends": (timezone.now() + timedelta(hours=1)).isoformat()},
            content_type="application/json",
        )
        self.assertEqual(answer.status_code, 403)
        self.assertEqual(self.client.get(f"{API}silences/").status_code, 403)

    def test_list_shows_active_pending_and_a_weeks_expired(self):
        now = timezone.now()
        active = self.create(part=self.screw.pk, comment="reorder placed")
        pending = self.create(
            part=self.fuse.pk,
            starts=(now + timedelta(hours=1)).isoformat(),
            ends=(now + timedelta(hours=3)).isoformat(),
        )
        recent = Silence.objects.create(
            part_id=self.screw.pk, starts=now - timedelta(days=3), ends=now - timedelta(days=2)
        )
        Silence.objects.create(
            part_id=self.screw.pk, starts=now - timedelta(days=9), ends=now - timedelta(days=8)
        )
        listed = self.client.get(f"{API}silences/").json()
        self.assertEqual([s["id"] for s in listed["active"]], [active["id"]])
        self.assertEqual([s["id"] for s in listed["pending"]], [pending["id"]])
        self.assertEqual([s["id"] for s in listed["expired"]], [recent.pk])
        shown = listed["active"][0]
        self.assertEqual(
            (shown["author"], shown["comment"], shown["part_name"]),
            ("siladmin", "reorder placed", "M3 screw"),
        )

    # -- the end of a silence ------------------------------------------------------------------

    def test_expiring_announces_only_what_is_still_low(self):
        silence = self.create(category=LOW)
        self.low(self.screw)
        self.low(self.fuse)
        self.drain()
        self.assertEqual(mail.outbox, [])
        # The fuse is restocked while silenced: its low-stock episode ends.
        StockItem.objects.create(part=self.fuse, location=self.lab, quantity=50)
        from inventree_notify_plus.inventree.recovery import check_recovery

        check_recovery(self.plugin)
        self.client.force_login(self.admin)
        answer = self.client.delete(f"{API}silences/{silence['id']}/")
        self.assertEqual(answer.status_code, 200, answer.content)
        self.assertEqual((answer.json()["state"], answer.json()["announced"]), ("expired", 2))
        self.drain()
        for person in (self.alice, self.bob):
            self.assertEqual(self.mailed(person), ["[InvenTree] Low stock: M3 screw"])
        fuse_rows = Delivery.objects.filter(title="Low stock: Fuse 1A")
        self.assertEqual({r.status for r in fuse_rows}, {"skipped"})
        self.assertIn("recovered while silenced", fuse_rows[0].last_error)
        # Expiring again announces nothing more.
        self.assertEqual(
            self.client.delete(f"{API}silences/{silence['id']}/").json()["announced"], 0
        )
        self.drain()
        self.assertEqual(len(mail.outbox), 2)

    # -- snooze links ----------------------------------------------------------------------------

    def first_email_links(self, person: User) -> dict[str, str]:
        """The snooze links in ``person``'s email about the screw."""
        self.low(self.screw)
        self.drain()
        body = next(m.body for m in mail.outbox if person.email in m.to)
        return dict(re.findall(r"(Snooze 1 (?:day|week)): (\S+)", body))

    def path(self, url: str) -> str:
        self.assertTrue(url.startswith(f"{SITE}{API}snooze/"), url)
        return url.removeprefix(SITE)

    def test_email_links_snooze_their_recipient_for_that_episode_only(self):
        links = self.first_email_links(self.alice)
        self.assertEqual(set(links), {"Snooze 1 day", "Snooze 1 week"})
        page = self.path(links["Snooze 1 week"])
        self.client.force_login(self.alice)
        shown = self.client.get(page)
        self.assertEqual(shown.status_code, 200)
        self.assertContains(shown, "M3 screw")
        self.assertContains(shown, "Confirm")
        confirmed = self.client.post(page)
        self.assertEqual(confirmed.status_code, 200)
        self.assertContains(confirmed, "Snoozed")
        snooze = Snooze.objects.get(user=self.alice)
        self.assertGreater(snooze.until, timezone.now() + timedelta(days=6))
        self.assertTrue(snooze.episode.startswith(f"low_stock:part:{self.screw.pk}@"))

        # A later notice of the screw's episode (a reminder) reaches bob, not alice; the fuse
        # (another episode) still reaches alice.
        mail.outbox = []
        record = NoticeRecord.objects.filter(data__episode=snooze.episode).first()
        reminder = replace(Notice.from_dict(record.data), uid="reminder-1", state="reminder")
        enqueue(
            reminder,
            [
                PlannedDelivery("email", f"email:user:{u.pk}", u.username)
                for u in (self.alice, self.bob)
            ],
        )
        self.drain()
        self.assertEqual(self.mailed(self.alice), [])
        self.assertEqual(self.mailed(self.bob), ["[InvenTree] Low stock: M3 screw"])
        skipped = Delivery.objects.get(
            notice_uid="reminder-1", destination=f"email:user:{self.alice.pk}"
        )
        self.assertEqual(skipped.status, "skipped")
        self.assertIn("snoozed by alice until", skipped.last_error)
        self.low(self.fuse)
        self.drain()
        self.assertEqual(self.mailed(self.alice), ["[InvenTree] Low stock: Fuse 1A"])

        # 'My notifications' lists it; lifting it ends it.
        mine = self.client.get(f"{API}snoozes/").json()["snoozes"]
        self.assertEqual([s["id"] for s in mine], [snooze.pk])
        self.assertEqual(self.client.delete(f"{API}snoozes/{snooze.pk}/").status_code, 200)
        self.assertEqual(self.client.get(f"{API}snoozes/").json()["snoozes"], [])
        self.client.force_login(self.bob)
        self.assertEqual(self.client.delete(f"{API}snoozes/{snooze.pk}/").status_code, 404)

    def test_a_replayed_link_is_refused(self):
        page = self.path(self.first_email_links(self.alice)["Snooze 1 day"])
        self.client.force_login(self.alice)
        self.assertEqual(self.client.post(page).status_code, 200)
        again = self.client.post(page)
        self.assertEqual(again.status_code, 410)
        self.assertContains(again, "already been used", status_code=410)
        self.assertEqual(self.client.get(page).status_code, 410)
        self.assertEqual(Snooze.objects.count(), 1)

    def test_another_users_link_is_refused(self):
        page = self.path(self.first_email_links(self.alice)["Snooze 1 day"])
        self.client.force_login(self.bob)
        refused = self.client.post(page)
        self.assertEqual(refused.status_code, 403)
        self.assertContains(refused, "someone else", status_code=403)
        self.assertEqual(Snooze.objects.count(), 0)

    def test_forged_and_expired_links_are_refused_with_a_page(self):
        page = self.path(self.first_email_links(self.alice)["Snooze 1 day"])
        self.client.force_login(self.alice)
        token = page.rstrip("/").rsplit("/", 1)[1]
        forged = f"{API}snooze/{token[:-3]}xyz/"
        answer = self.client.get(forged)
        self.assertEqual(answer.status_code, 400)
        self.assertContains(answer, "not a valid snooze link", status_code=400)
        self.assertEqual(self.client.get(f"{API}snooze/nonsense/").status_code, 400)
        later = time.time() + snoozing.LINK_LIFETIME.total_seconds() + 60
        with mock.patch("time.time", return_value=later):
            expired = self.client.post(page)
        self.assertEqual(expired.status_code, 410)
        self.assertContains(expired, "expired", status_code=410)
        self.assertEqual(Snooze.objects.count(), 0)

    def test_signed_out_visitors_are_asked_to_sign_in(self):
        page = self.path(self.first_email_links(self.alice)["Snooze 1 day"])
        self.client.logout()
        answer = self.client.get(page)
        self.assertEqual(answer.status_code, 401)
        self.assertContains(answer, "Sign in", status_code=401)
        self.assertEqual(self.client.post(page).status_code, 401)
        self.assertEqual(Snooze.objects.count(), 0)

    def test_channel_links_snooze_whoever_confirms_once_each(self):
        episode = f"low_stock:part:{self.screw.pk}@x"
        token = snoozing.sign(episode, "1d", None, "Low stock: M3 screw")
        page = f"{API}snooze/{token}/"
        for person in (self.alice, self.bob):
            self.client.force_login(person)
            self.assertEqual(self.client.post(page).status_code, 200)
            self.assertEqual(self.client.post(page).status_code, 410)
        self.assertEqual(
            sorted(Snooze.objects.values_list("user__username", flat=True)), ["alice", "bob"]
        )

    def test_a_snoozed_users_mention_ids_are_their_own_settings(self):
        """What the hold stage drops from channel posts: the member ids the user set."""
        from plugin.models import PluginUserSetting

        from inventree_notify_plus.inventree.silences import mention_ids

        ours = self.plugin.plugin_config()
        PluginUserSetting.set_setting(
            "NOTIFY_PLUS_SLACK_MEMBER_ID", "U0ALICE", None, user=self.alice, plugin=ours
        )
        PluginUserSetting.set_setting(
            "NOTIFY_PLUS_DISCORD_USER_ID", "123456789012345678", None, user=self.alice, plugin=ours
        )
        found = mention_ids([self.alice.pk, self.bob.pk])
        self.assertEqual(found[self.alice.pk], {"U0ALICE", "123456789012345678"})
        self.assertEqual(found[self.bob.pk], set())
