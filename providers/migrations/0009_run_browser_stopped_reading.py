from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("providers", "0007_ui_words_conversations"),
    ]

    operations = [
        migrations.AddField(
            model_name="playgroundrun",
            name="browser_stopped_reading",
            field=models.BooleanField(default=False),
        ),
    ]
