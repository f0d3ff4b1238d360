from django.db import migrations


class Migration(migrations.Migration):
    """The notice lives in NoticeRecord now (0004 copied it); a separate migration so that
    PostgreSQL does not alter the table in the transaction that updated its rows."""

    dependencies = [
        ("inventree_notify_plus", "0004_notice_record_indexes"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="delivery",
            name="notice",
        ),
        # The drain reads pending rows through partial indexes and the log has its own.
        migrations.RemoveIndex(
            model_name="delivery",
            name="notifyplus_status_due",
        ),
    ]
