"""Ring 4: Notify Plus in InvenTree's web UI, in a real browser, as an admin and as a plain user.

Headless Chromium (Debian's ``chromium``) driven by Playwright for Python against a live InvenTree
with its web UI built and Notify Plus installed and active (app, schedule, URL and interface
integration on):

    NOTIFY_PLUS_UI_URL=http://127.0.0.1:8000 NOTIFY_PLUS_UI_USER=admin \\
    NOTIFY_PLUS_UI_PASSWORD=... pytest tests/browser -s

The tests start loopback stand-ins for Slack (default and 'purchasing') and Discord, and an SMTP
server; the InvenTree server and worker must run with ``INVENTREE_NOTIFY_PLUS_ALLOWED_HOSTS``
admitting 127.0.0.1 and InvenTree's email on the SMTP port (ports: ``NOTIFY_PLUS_UI_PORTS``,
default ``9201,9202,9203,9225``). Screenshots go to docs/images/ui-*.png (``NOTIFY_PLUS_UI_SHOTS``
to put them elsewhere). Skipped when no InvenTree is given or Playwright is not installed
(failures under ``CI=true``).
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.live import live_url, skip_or_fail, wait_for

URL = live_url("NOTIFY_PLUS_UI_URL", "ring 4")  # skips without one; fails under CI=true
try:
    from playwright import sync_api
except ImportError:
    skip_or_fail(
        "Playwright for Python is not installed (pip install playwright; the browser is Debian's chromium)"
    )

CHROMIUM = os.environ.get("NOTIFY_PLUS_UI_CHROMIUM", "/usr/bin/chromium")
SLACK_PORT, DISCORD_PORT, PURCHASING_PORT, SMTP_PORT = (
    int(p) for p in os.environ.get("NOTIFY_PLUS_UI_PORTS", "9201,9202,9203,9225").split(",")
)
SHOTS = Path(os.environ.get("NOTIFY_PLUS_UI_SHOTS", Path(__file__).parents[2] / "docs" / "images"))
RUN = uuid.uuid4().hex[:6]
PASSWORD = f"Np-ui-{uuid.uuid4().hex}"
SECRET = "SeCrEtToKeN"  # the token part of every stand-in webhook URL
TIMEOUT = 60_000
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Lab:
    """The live InvenTree through its API, the stand-ins, and what one run created."""

    def __init__(self, slack, discord, purchasing, smtp) -> None:
        from inventree.api import InvenTreeAPI

        self.slack, self.discord, self.purchasing, self.smtp = slack, discord, purchasing, smtp
        self.admin_user = os.environ.get("NOTIFY_PLUS_UI_USER", "admin")
        self.admin_password = os.environ.get("NOTIFY_PLUS_UI_PASSWORD", "inventree")
        self.admin = InvenTreeAPI(URL, username=self.admin_user, password=self.admin_password)
        # Each module that uses this fixture makes its own user, group, category and location.
        self.tag = f"{RUN}-{uuid.uuid4().hex[:4]}"
        self.plain_user = f"plain-{self.tag}"

    def setting(self, key: str, value) -> None:
        self.admin.patch(f"plugins/notify-plus/settings/{key}/", {"value": value})

    def make_plain_user(self) -> int:
        group = self.admin.post("user/group/", {"name": f"np-ui-{self.tag}"})
        for ruleset in self.admin.get("user/ruleset/", params={"group": group["pk"]}):
            if ruleset["name"] in ("part", "part_category", "stock", "stock_location"):
                self.admin.patch(
                    f"user/ruleset/{ruleset['pk']}/", {"can_view": True, "can_change": True}
                )
        user = self.admin.post(
            "user/",
            {
                "username": self.plain_user,
                "first_name": "Plain",
                "last_name": "User",
                "email": f"{self.plain_user}@example.com",
            },
        )
        self.admin.patch(f"user/{user['pk']}/", {"group_ids": [group["pk"]]})
        self.admin.put(
            f"user/{user['pk']}/set-password/", {"password": PASSWORD, "override_warning": True}
        )
        return user["pk"]

    def posts_about(self, standin, text: str) -> int:
        from inventree_notify_plus.devtools.received import discord_titles, slack_titles

        titles = slack_titles if standin.kind == "slack" else discord_titles
        return sum(any(text in t for t in titles(body)[0]) for body in list(standin.accepted))


@pytest.fixture(scope="module")
def lab():
    from inventree_notify_plus.devtools.standins import SmtpStandIn, WebhookStandIn

    with (
        WebhookStandIn("slack", port=SLACK_PORT) as slack,
        WebhookStandIn("discord", port=DISCORD_PORT) as discord,
        WebhookStandIn("slack", port=PURCHASING_PORT) as purchasing,
        SmtpStandIn(port=SMTP_PORT) as smtp,
    ):
        env = Lab(slack, discord, purchasing, smtp)
        env.setting("NOTIFICATIONS_ENABLE", True)
        env.setting("NOTIFICATIONS_LOW_STOCK", True)
        env.setting("SLACK_WEBHOOK_URL", slack.url)
        env.setting("DISCORD_WEBHOOK_URL", discord.url)
        env.setting("SLACK_EXTRA_WEBHOOKS", f"purchasing={purchasing.url}")
        env.setting("ROUTES", "")
        env.category = env.admin.post("part/category/", {"name": f"UI-Fasteners-{env.tag}"})
        env.store = env.admin.post("stock/location/", {"name": f"UI-Store-{env.tag}"})
        env.user_pk = env.make_plain_user()
        yield env
        env.setting("ROUTES", "")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


SESSIONS: list[Session] = []


@pytest.fixture(autouse=True)
def screenshot_on_failure(request):
    """A failed test leaves a picture of every open tab in the screenshots folder."""
    yield
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        for n, session in enumerate(SESSIONS):
            with contextlib.suppress(Exception):
                session.page.screenshot(path=str(SHOTS / f"failed-{request.node.name}-{n}.png"))


class Session:
    """One signed-in browser tab; records every answer from InvenTree for the secrets check."""

    def __init__(self, browser, user: str, password: str) -> None:
        SESSIONS.append(self)
        origin = urlsplit(URL).netloc
        self.context = browser.new_context(
            viewport={"width": 1500, "height": 1000}, locale="en-US", timezone_id="UTC"
        )
        self.context.route(
            "**/*",
            lambda r: (
                r.continue_()
                if urlsplit(r.request.url).netloc == origin or r.request.url.startswith("data:")
                else r.abort("blockedbyclient")
            ),
        )
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT)
        self.bodies: list[str] = []
        self.page.on("response", self._keep)
        self.login(user, password)

    def _keep(self, response) -> None:
        if "/plugin/notify-plus/" in response.url or "/api/plugins/" in response.url:
            with contextlib.suppress(Exception):  # redirects and aborted requests have no body
                self.bodies.append(response.text())

    def login(self, user: str, password: str) -> None:
        page = self.page
        for _attempt in range(3):
            page.goto(URL + "/web/", wait_until="domcontentloaded")
            page.wait_for_url("**/web/login**")
            page.get_by_role("textbox", name="login-username").fill(user)
            page.get_by_role("textbox", name="login-password").fill(password)
            page.get_by_role("button", name="Log In").click()
            try:
                page.get_by_role("button", name="navigation-menu").wait_for(timeout=20_000)
                return
            except sync_api.TimeoutError:
                self.context.clear_cookies()
        raise AssertionError(f"could not log in as {user}")

    def shot(self, name: str, locator=None, drawer: bool = False) -> Path:
        """Screenshot the page, one element, or a drawer (which scrolls inside itself: the
        window is made as tall as its content for the picture)."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"ui-{name}.png"
        page = self.page
        hide_toasts = page.add_style_tag(
            content=".mantine-Notification-root { display: none !important; }"
        )
        page.wait_for_timeout(500)
        if locator is not None:
            locator.screenshot(path=str(path))
        elif drawer:
            page.evaluate(
                "() => document.querySelectorAll('.mantine-Drawer-body, .mantine-Drawer-content')"
                ".forEach(e => { e.scrollLeft = 0; })"
            )
            viewport = page.viewport_size
            height = page.evaluate(
                "() => Math.max(...[...document.querySelectorAll('.mantine-Drawer-body')]"
                ".map(e => e.scrollHeight), 0)"
            )
            page.set_viewport_size({"width": viewport["width"], "height": min(height + 80, 8000)})
            page.wait_for_timeout(500)
            page.screenshot(path=str(path))
            page.set_viewport_size(viewport)
        else:
            page.screenshot(path=str(path), full_page=True)
        hide_toasts.evaluate("e => e.remove()")
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def admin(browser, lab):
    session = Session(browser, lab.admin_user, lab.admin_password)
    yield session
    session.close()


@pytest.fixture(scope="module")
def plain(browser, lab):
    session = Session(browser, lab.plain_user, PASSWORD)
    yield session
    session.close()


def open_admin_console(session: Session):
    """Admin Center > Plugins, the Notify Plus row clicked: its drawer holds the console."""
    page = session.page
    page.goto(URL + "/web/settings/admin/plugin", wait_until="domcontentloaded")
    page.get_by_label("table-search-input").fill("NotifyPlus")
    row = page.locator("tbody tr").filter(has=page.get_by_text("NotifyPlus", exact=True))
    row.first.locator("td").first.click()
    drawer = page.get_by_role("dialog")
    drawer.get_by_text("Plugin Settings", exact=True).click()  # fold InvenTree's settings list
    drawer.get_by_text("Plugin Configuration", exact=True).click()  # ADMIN_SOURCE is rendered here
    console = page.get_by_test_id("np-admin")
    console.wait_for()
    page.get_by_test_id("np-health").get_by_text("Deliveries, last 24 h").wait_for()
    return console


def send_test(session: Session, destinations, key: str) -> str:
    """Click *Send test* for ``key`` and return the answer shown.

    A destination still at its rate limit from the notices other tests sent answers "retry in
    N s" without sending (the product's answer): wait that long and click again, as an admin would.
    """
    page = session.page
    answer = page.get_by_test_id(f"np-answer-{key.replace(':', '-')}")
    for _ in range(4):
        with page.expect_response(lambda r: "/plugin/notify-plus/test/" in r.url) as sent:
            destinations.get_by_role("button", name=f"Send test {key}").click()
        detail = str(sent.value.json().get("detail", ""))
        answer.wait_for()
        wait = re.search(r"at its rate limit.*retry in (\d+) s", detail)
        if wait is None:
            break
        page.wait_for_timeout((int(wait.group(1)) + 1) * 1000)
    wait_for(lambda: answer.inner_text().strip() and "at its rate limit" not in answer.inner_text())
    return answer.inner_text()


def nothing_queued(session: Session, destination: str) -> bool:
    """Whether the delivery log shows nothing pending or sending for ``destination``."""
    for status in ("pending", "sending"):
        log = session.page.request.get(
            f"{URL}/plugin/notify-plus/deliveries/",
            params={"destination": destination, "status": status},
        )
        if log.json()["results"]:
            return False
    return True


def test_admin_console_renders_and_test_sends_show_the_channels_answer(admin, lab):
    from inventree_notify_plus.devtools.standins import Answer

    console = open_admin_console(admin)
    for title in ("Health", "Destinations", "Delivery log", "Routes", "What would happen?"):
        console.get_by_role("heading", name=title).wait_for()
    destinations = admin.page.get_by_test_id("np-destinations")
    for key in ("slack:default", "slack:purchasing", "discord:default"):
        destinations.get_by_text(key, exact=True).wait_for()

    before = lab.posts_about(lab.slack, "Notify Plus test message")
    answer = send_test(admin, destinations, "slack:default")
    assert answer.startswith("sent (HTTP 200)"), answer
    assert lab.posts_about(lab.slack, "Notify Plus test message") == before + 1

    # The scripted 429 must answer the test send, not a notice the outbox is still delivering
    # there (earlier modules' notices wait out the grouping interval): first let those go.
    assert wait_for(lambda: nothing_queued(admin, "discord:default"), seconds=180, step=2)
    lab.discord.then(Answer(429, {"message": "You are being rate limited.", "retry_after": 7.5}))
    answer = send_test(admin, destinations, "discord:default")
    assert re.match(r"retry after 7(\.5)? s \(HTTP 429\)", answer), answer
    admin.shot("admin-console", drawer=True)
    assert SECRET not in admin.page.content()


def test_route_made_in_the_editor_is_saved_and_routes_the_next_low_part(admin, lab):
    open_admin_console(admin)
    page = admin.page
    routes = page.get_by_test_id("np-routes")
    routes.get_by_role("button", name="Add route").click()
    route = page.get_by_test_id("np-route-1")
    route.get_by_label("Notification categories").click()
    page.get_by_role("option", name=re.compile(r"^Low stock \(")).click()
    page.keyboard.press("Escape")
    # InvenTree's own related-model field, in InvenTree's form modal
    route.get_by_role("button", name="+ category").click()
    tree = page.get_by_label("tree-field-part_category")  # InvenTree's tree picker for categories
    tree.click()
    tree.fill(lab.category["name"])
    page.get_by_role("option").filter(has_text=lab.category["name"]).first.click()
    page.get_by_role("button", name="Add", exact=True).click()
    page.get_by_test_id("np-route-1-categories").get_by_text(lab.category["name"]).wait_for()
    route.get_by_label("Send to").click()
    page.get_by_role("option", name="slack:purchasing").click()
    page.keyboard.press("Escape")
    check = page.get_by_test_id("np-routes-check")
    check.get_by_text("Valid: ready to save.").wait_for()
    admin.shot("routes-editor", routes)
    routes.get_by_role("button", name="Save routes").click()
    page.get_by_text("Routes saved.").wait_for()

    stored = lab.admin.get("plugins/notify-plus/settings/ROUTES/")["value"]
    assert f'"part_category": [{lab.category["pk"]}]' in stored, stored
    assert '"to": ["slack:purchasing"]' in stored, stored

    name = f"UI bolt {RUN}"
    part = lab.admin.post(
        "part/",
        {"name": name, "category": lab.category["pk"], "minimum_stock": 10, "component": True},
    )
    lab.admin.post("stock/", {"part": part["pk"], "location": lab.store["pk"], "quantity": 2})
    assert wait_for(lambda: lab.posts_about(lab.purchasing, name)), "purchasing got nothing"
    assert lab.posts_about(lab.slack, name) == 0  # the route decided: not the default channel
    lab.part, lab.routed = part, True


def test_delivery_log_shows_the_deliveries_with_search(admin, lab):
    open_admin_console(admin)
    page = admin.page
    log = page.get_by_test_id("np-log")
    log.get_by_label("table-search-input").fill(f"UI bolt {RUN}")
    log.scroll_into_view_if_needed()
    page.wait_for_timeout(1500)  # the search box waits before it asks
    page.wait_for_load_state("networkidle")
    log.locator(".mantine-Loader-root").first.wait_for(state="hidden")
    log.get_by_text(f"Low stock: UI bolt {RUN}").first.wait_for()
    log.get_by_text("slack 'purchasing'").first.wait_for()
    assert log.get_by_text("sent", exact=True).count() >= 1
    admin.shot("delivery-log", log)
    assert not any(SECRET in body for body in admin.bodies)


def test_plain_user_sees_panels_and_subscribes_to_a_location(plain, lab):
    from inventree.api import InvenTreeAPI

    me = InvenTreeAPI(URL, username=lab.plain_user, password=PASSWORD)
    me.patch(f"part/category/{lab.category['pk']}/", {"starred": True})
    page = plain.page
    part_pk = getattr(lab, "part", None)
    if part_pk is None:
        lab.part = lab.admin.post(
            "part/", {"name": f"UI nut {RUN}", "category": lab.category["pk"], "component": True}
        )
    page.goto(f"{URL}/web/part/{lab.part['pk']}/", wait_until="domcontentloaded")
    page.get_by_role("tab", name=re.compile("Notifications")).click()
    panel = page.get_by_test_id("np-panel")
    panel.get_by_text("subscribed", exact=True).wait_for()
    panel.get_by_text("through its category or a parent").wait_for()
    if getattr(lab, "routed", False):  # the route the editor test saved names this category
        panel.get_by_text("slack:purchasing").first.wait_for()
    plain.shot("part-panel")

    page.goto(f"{URL}/web/stock/location/{lab.store['pk']}/", wait_until="domcontentloaded")
    page.get_by_role("tab", name=re.compile("Notifications")).click()
    panel = page.get_by_test_id("np-panel")
    panel.get_by_role("button", name="Subscribe to this location").click()
    panel.get_by_role("button", name="Unsubscribe from this location").wait_for()
    panel.get_by_text("through this location").wait_for()
    plain.shot("location-panel")
    assert me.get("/plugin/notify-plus/locations/")["locations"] == [lab.store["pk"]]

    # no admin console, no other users' data for a plain user
    assert page.request.get(URL + "/plugin/notify-plus/health/").status == 403
    assert page.request.get(URL + "/plugin/notify-plus/deliveries/").status == 403
    assert not any(SECRET in body for body in plain.bodies)


def test_my_notifications_on_the_dashboard(plain, lab):
    page = plain.page
    page.goto(URL + "/web/home", wait_until="domcontentloaded")
    page.get_by_label("dashboard-menu").click()
    page.get_by_role("menuitem", name="Add Widget").click()
    page.get_by_label("dashboard-widgets-filter-input").fill("notifications")
    page.get_by_label(re.compile("add-widget-p-notify-plus-")).click()
    page.get_by_role("banner").get_by_role("button").click()
    page.get_by_test_id("np-mine").get_by_text("My subscriptions").wait_for()


def test_my_notifications_in_the_user_settings(plain, lab):
    from inventree.api import InvenTreeAPI

    me = InvenTreeAPI(URL, username=lab.plain_user, password=PASSWORD)
    me.patch(f"part/category/{lab.category['pk']}/", {"starred": True})
    me.post("/plugin/notify-plus/locations/", {"location": lab.store["pk"]})
    page = plain.page
    page.goto(URL + "/web/settings/user/", wait_until="domcontentloaded")
    page.get_by_role("tab", name=re.compile("My notifications")).click()
    mine = page.get_by_test_id("np-mine")
    mine.get_by_text(lab.category["name"]).wait_for()
    mine.get_by_text(lab.store["name"]).wait_for()
    quiet = page.get_by_test_id("np-setting-NOTIFY_PLUS_QUIET_HOURS")
    quiet.fill("25-07")
    quiet.press("Enter")
    mine.get_by_text("Write quiet hours as start-end").wait_for()
    quiet.fill("22-07")
    quiet.press("Enter")
    wait_for(lambda: not mine.get_by_text("Write quiet hours as start-end").count(), 10, 0.5)
    plain.shot("my-notifications")


def test_what_would_happen_names_the_route_destinations_and_users(admin, lab):
    if not getattr(lab, "routed", False):
        pytest.skip("needs the route and the part of the routes-editor test")
    open_admin_console(admin)
    page = admin.page
    box = page.get_by_test_id("np-preview")
    box.get_by_role("button", name="Pick a part").click()
    field = page.get_by_label("related-field-part")
    field.fill(f"UI bolt {RUN}")
    page.get_by_role("option").filter(has_text=f"UI bolt {RUN}").first.click()
    page.get_by_role("button", name="Pick", exact=True).click()
    box.get_by_text(f"For UI bolt {RUN}").wait_for()
    box.get_by_role("button", name="Show").click()
    answer = page.get_by_test_id("np-preview-answer")
    answer.get_by_text("Matching routes: route 1").wait_for()
    answer.get_by_text("slack 'purchasing'").wait_for()
    admin.shot("what-would-happen", box)


def test_health_names_inventrees_own_slack_method_and_deactivates_it(admin, lab):
    """Issue 15.6: InvenTree's Slack method beside Notify Plus posts every notice twice."""
    core = "inventree-slack-notification"
    lab.admin.patch(f"plugins/{core}/activate/", {"active": True})
    try:
        open_admin_console(admin)
        warning = admin.page.get_by_test_id("np-inventree-slack")
        warning.wait_for()
        text = warning.inner_text()
        assert "posted twice" in text, text
        admin.shot("health-inventree-slack", locator=admin.page.get_by_test_id("np-health"))
        warning.get_by_role("button", name="Deactivate InvenTree's Slack method").click()
        warning.wait_for(state="detached")
        admin.page.get_by_test_id("np-health").get_by_text(
            "All integrations Notify Plus needs are on"
        ).wait_for()
        active = lab.admin.get(f"plugins/{core}/")["active"]
        print(
            f"\nHealth: '{text.splitlines()[0]}'; after the button InvenTree's method active={active}"
        )
        assert active is False
    finally:
        lab.admin.patch(f"plugins/{core}/activate/", {"active": False})
