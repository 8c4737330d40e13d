from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("providers", "0016_drop_unsupported"),
    ]

    operations = [
        migrations.AddField(
            model_name="playgroundrun",
            name="tools",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="playgroundrun",
            name="tool_calls",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
