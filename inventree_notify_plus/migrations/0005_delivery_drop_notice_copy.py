from django.db import migrations, models


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
        # The drain reads pending rows through partial indexes and the log has its own; fewer
        # indexes make queueing 10,000 deliveries cheaper.
        migrations.AlterField(
            model_name="delivery",
            name="category",
            field=models.CharField(max_length=100),
        ),
        migrations.RemoveIndex(
            model_name="delivery",
            name="notifyplus_status_due",
        ),
    ]
