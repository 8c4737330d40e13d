"""An endpoint model may be marked as taking images in chat (image_url content parts)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('providers', '0013_durable_runs_and_calls'),
    ]

    operations = [
        migrations.AddField(
            model_name='hfmodel',
            name='accepts_images',
            field=models.BooleanField(default=False),
        ),
    ]
