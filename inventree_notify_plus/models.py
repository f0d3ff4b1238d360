"""Database tables of the plugin: the outbox (which is also the delivery log) and pacing state.

Installed by InvenTree when the admin enables app integration (``ENABLE_PLUGINS_APP``).

Each model names its app: the worker must be able to send the email Notify Plus still holds
after the plugin was deactivated (``tasks.flush_email``), when InvenTree no longer lists the
app in ``INSTALLED_APPS`` and an import without an explicit app label would fail.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

APP_LABEL = "inventree_notify_plus"


class NoticeRecord(models.Model):
    """A notice, stored once; every delivery of it points here.

    A category starred by 10,000 users gives 10,000 deliveries and one copy of the notice.
    """

    uid = models.CharField(max_length=64, unique=True)
    data = models.JSONField()
    object_ref = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        app_label = APP_LABEL
        verbose_name = _("Notify Plus notice")

    def __str__(self) -> str:
        return str(self.data.get("title", self.uid))


class Delivery(models.Model):
    """One message to one destination for one notice.

    Written before anything is sent, in the same transaction as the decision to send; the
    dispatcher claims, sends and records the outcome on the same row, so the outbox and the
    delivery log are one table. ``key`` (notice uid + destination) is unique: the same
    InvenTree notification triggered twice is enqueued once.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped")
        UNKNOWN = "unknown", _("Outcome unknown")
        SILENCED = "silenced", _("Silenced")

    class Kind(models.TextChoices):
        """What the row does at the service: a new message, or a follow-up to a sent one."""

        NOTICE = "notice", _("Notice")
        UPDATE = "update", _("Update of a sent message")
        REPLY = "reply", _("Reply under a sent message")

    key = models.CharField(max_length=64, unique=True)
    notice_uid = models.CharField(max_length=64)
    notice_record = models.ForeignKey(
        NoticeRecord, on_delete=models.CASCADE, related_name="deliveries", null=True
    )
    category = models.CharField(max_length=100)
    title = models.CharField(max_length=250)
    channel = models.CharField(max_length=20)
    destination = models.CharField(max_length=100)
    destination_label = models.CharField(max_length=250, blank=True)
    mentions = models.JSONField(default=list, blank=True)
    groupable = models.BooleanField(
        default=True, help_text="May be sent together with others to the same destination."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    due_at = models.DateTimeField(default=timezone.now)
    first_due_at = models.DateTimeField(
        null=True, blank=True, help_text="When it was first due: retry age counts from here."
    )
    claim_token = models.CharField(max_length=32, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(
        max_length=32, blank=True, help_text="Deliveries sent together in one digest share it."
    )
    last_error = models.TextField(blank=True)
    # Nullable: rows queued by the outbox's bulk insert (which names its columns) start empty.
    kind = models.CharField(
        max_length=10, choices=Kind.choices, default=Kind.NOTICE, db_default=Kind.NOTICE
    )
    episode = models.CharField(
        max_length=150,
        blank=True,
        default="",
        db_default="",
        help_text="The condition the notice belongs to (copied from it): what a resolution finds.",
    )
    external_id = models.CharField(
        max_length=200,
        blank=True,
        default="",
        db_default="",
        help_text="The service's id of the sent message (Discord message id, Slack ts, email "
        "Message-ID): what an update edits and a reply threads under.",
    )
    reply_to = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="followups",
        help_text="The sent delivery this update or reply refers to.",
    )
    silence = models.ForeignKey(
        "Silence",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="held",
        help_text="The silence that held this delivery (status 'silenced').",
    )
    resends = models.JSONField(
        default=list,
        null=True,
        blank=True,
        help_text="Each time an admin resent it: who, when, and the status and error it had.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = APP_LABEL
        verbose_name = _("Notify Plus delivery")
        verbose_name_plural = _("Notify Plus deliveries")
        # The drain reads only pending rows: partial indexes stay small however many rows
        # were sent. The delivery log pages newest first, optionally filtered by one column.
        indexes = [
            models.Index(
                fields=["destination", "due_at"],
                condition=models.Q(status="pending"),
                name="notifyplus_pending_dest",
            ),
            models.Index(
                fields=["due_at"],
                condition=models.Q(status="pending"),
                name="notifyplus_pending_due",
            ),
            models.Index(
                fields=["claimed_at"],
                condition=models.Q(status="sending"),
                name="notifyplus_sending",
            ),
            models.Index(fields=["created_at", "id"], include=["status"], name="notifyplus_log"),
            models.Index(fields=["status", "created_at"], name="notifyplus_log_status"),
            models.Index(fields=["channel", "created_at"], name="notifyplus_log_channel"),
            models.Index(fields=["destination", "created_at"], name="notifyplus_log_dest"),
            models.Index(
                fields=["episode", "destination"],
                condition=~models.Q(episode=""),
                name="notifyplus_episode",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.destination_label}: {self.title} [{self.status}]"

    @property
    def notice(self) -> dict:
        """The notice this delivery carries (stored once in :class:`NoticeRecord`)."""
        return self.notice_record.data if self.notice_record_id else {}


class DestinationState(models.Model):
    """Pacing of one destination, shared by every worker.

    A token bucket keeps Slack/Discord under their rate limits; ``last_sent_at`` (set when a
    message is claimed, put back if it delivered nothing) drives the grouping interval, for a
    person's mailbox as for a channel; ``blocked_until`` holds the destination until a retry
    (a 429's Retry-After, a failure's backoff). Times are on the database's clock.
    """

    destination = models.CharField(max_length=100, unique=True)
    tokens = models.FloatField(default=0)
    refilled_at = models.DateTimeField(default=timezone.now)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    blocked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = APP_LABEL

    def __str__(self) -> str:
        return self.destination


class Lease(models.Model):
    """A short, renewable hold on a role one worker plays at a time (the drain that waits).

    Held by a random token until ``until``; a holder that dies simply lets it expire.
    """

    name = models.CharField(max_length=50, unique=True)
    holder = models.CharField(max_length=32, blank=True)
    until = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = APP_LABEL

    def __str__(self) -> str:
        return self.name


class Condition(models.Model):
    """A condition announced once while it lasts (e.g. 'part 12 is low on stock')."""

    key = models.CharField(max_length=100, unique=True)
    since = models.DateTimeField(default=timezone.now)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        app_label = APP_LABEL

    def __str__(self) -> str:
        return self.key


class LocationSubscription(models.Model):
    """A user who manages a stock location (and its sublocations) and wants its notices.

    InvenTree lets users star parts and part categories, not stock locations; location
    *owners* are honoured too, this adds the explicit subscription (upstream issue 12323).
    The location is stored by primary key so the outbox app needs no InvenTree model.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notify_plus_locations"
    )
    location_id = models.PositiveIntegerField(db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = APP_LABEL
        constraints = [
            models.UniqueConstraint(
                fields=["user", "location_id"], name="notifyplus_one_sub_per_location"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} @ location {self.location_id}"


class Silence(models.Model):
    """Staff hold matching notices for a while (Alertmanager's silences, for InvenTree's objects).

    Empty criteria match anything; a part category or stock location matches its children too.
    Held deliveries are recorded as 'silenced' with this silence; when it ends, what is still
    true is announced once (``released_at`` says that was done).
    """

    part_id = models.PositiveIntegerField(null=True, blank=True)
    part_category_id = models.PositiveIntegerField(null=True, blank=True)
    location_id = models.PositiveIntegerField(null=True, blank=True)
    category = models.CharField(max_length=100, blank=True)
    destination = models.CharField(max_length=100, blank=True)
    starts = models.DateTimeField(default=timezone.now)
    ends = models.DateTimeField()
    comment = models.TextField(blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = APP_LABEL
        verbose_name = _("Notify Plus silence")

    def __str__(self) -> str:
        return f"silence {self.pk} until {self.ends:%Y-%m-%d %H:%M}"


class Snooze(models.Model):
    """One user said 'not now' about one episode: their email and mentions stop until ``until``.

    ``token`` is the signed link's nonce, unique, so a link snoozes once (a replay is refused).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notify_plus_snoozes"
    )
    episode = models.CharField(max_length=150, db_index=True)
    title = models.CharField(max_length=250, blank=True)
    object_ref = models.CharField(max_length=200, blank=True)
    until = models.DateTimeField()
    token = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    lifted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = APP_LABEL
        verbose_name = _("Notify Plus snooze")

    def __str__(self) -> str:
        return f"{self.user} snoozed {self.episode} until {self.until:%Y-%m-%d %H:%M}"
