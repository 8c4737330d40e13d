from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("providers", "0007_ui_words_conversations")]

    operations = [
        migrations.AddField(
            model_name="providersettings",
            name="token_check",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
