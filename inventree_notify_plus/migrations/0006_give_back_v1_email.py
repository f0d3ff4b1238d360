"""Give InvenTree's email back to the users Notify Plus 1.0 switched it off for.

Notify Plus 1.0 turned InvenTree's per-user *Allow email notifications* off and marked each user
it did that to (plugin user setting ``_EMAIL_HANDED_OVER``). This restores exactly those users
and removes the marks when the migration is applied (activation does the same:
``inventree.handback.undo_v1_handover``). Safe where InvenTree's plugin tables or rows are absent
(a fresh database, a test database migrated in another order): it then does nothing.
"""

from django.db import migrations

SLUG = "notify-plus"
CORE_EMAIL_SLUG = "inventree-email-notification"
CORE_KEY = "NOTIFY_BY_EMAIL"
MARK = "_EMAIL_HANDED_OVER"


def give_back(apps, schema_editor) -> None:
    """Restore InvenTree's email switch for the marked users, then drop the marks."""
    try:
        configs = apps.get_model("plugin", "PluginConfig")
        user_settings = apps.get_model("plugin", "PluginUserSetting")
    except LookupError:  # InvenTree's plugin app is not in the migration state
        return
    connection = schema_editor.connection
    tables = set(connection.introspection.table_names())
    if not {configs._meta.db_table, user_settings._meta.db_table} <= tables:
        return
    rows = user_settings.objects.using(connection.alias)
    marks = rows.filter(plugin__key=SLUG, key=MARK)
    users = list(marks.values_list("user_id", flat=True))
    if not users:
        return
    rows.filter(plugin__key=CORE_EMAIL_SLUG, key=CORE_KEY, user_id__in=users).update(value="True")
    marks.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("inventree_notify_plus", "0005_delivery_drop_notice_copy"),
    ]

    operations = [
        migrations.RunPython(give_back, migrations.RunPython.noop, elidable=True),
    ]
