"""The 1.0 hand-back: InvenTree's email given back to the users Notify Plus 1.0 took it from.

Notify Plus 1.0 switched InvenTree's per-user *Allow email notifications* off and marked each
user it did that to. 2.0 never writes that setting (see ``core_email_guard``); migration 0006
restores the marked users when it is applied (with its own frozen copy of this logic, as a
migration must not change with the code) and every activation runs :func:`undo_v1_handover`
again, for marks a 1.0 install left after the migration ran.
"""

from __future__ import annotations

import logging

from .consent import CORE_EMAIL_SLUG, CORE_KEY, SLUG

logger = logging.getLogger("inventree")

# Notify Plus 1.0 switched InvenTree's setting off and marked the users it did that to.
V1_HANDOVER_MARK = "_EMAIL_HANDED_OVER"


def undo_v1_handover() -> int:
    """Give InvenTree's email back to the users Notify Plus 1.0 switched it off for.

    Restores exactly the users it marked, and only the value it changed, as migration 0006
    does. Runs on every activation (idempotent: one query when nothing is marked).
    """
    from plugin.models import PluginConfig, PluginUserSetting

    marks = PluginUserSetting.objects.filter(plugin__key=SLUG, key=V1_HANDOVER_MARK)
    ids = list(marks.values_list("user_id", flat=True))
    if not ids:
        return 0
    core = PluginConfig.objects.filter(key=CORE_EMAIL_SLUG).first()
    if core is not None:
        PluginUserSetting.objects.filter(plugin=core, key=CORE_KEY, user_id__in=ids).update(
            value="True"
        )
    marks.delete()
    logger.info("Notify Plus: gave InvenTree's email back to %s user(s) (1.0 handover)", len(ids))
    return len(ids)
