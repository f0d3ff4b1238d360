from django.db import migrations, models


class Migration(migrations.Migration):
    """Resend keeps the row's created_at and records who resent it, when, and what it was."""

    dependencies = [
        ("inventree_notify_plus", "0006_give_back_v1_email"),
    ]

    operations = [
        migrations.AddField(
            model_name="delivery",
            name="resends",
            field=models.JSONField(
                blank=True,
                default=list,
                null=True,
                help_text="Each time an admin resent it: who, when, and the status and error it had.",
            ),
        ),
    ]
