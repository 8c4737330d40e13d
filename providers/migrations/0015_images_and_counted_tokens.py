"""An endpoint model may be marked as taking images in chat (image_url content parts); a playground run notes
that its token count is the console's own (the server reported none)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('providers', '0014_vector_runs'),
    ]

    operations = [
        migrations.AddField(
            model_name='hfmodel',
            name='accepts_images',
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name='playgroundrun',
            name='tokens_counted',
            field=models.BooleanField(default=False),
        ),
    ]
