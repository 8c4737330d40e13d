"""Runs note a browser that stopped reading; API calls in flight name their process, for the sweeps."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('providers', '0012_embedding_tasks'),
    ]

    operations = [
        migrations.AddField(
            model_name='apicall',
            name='heartbeat_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='apicall',
            name='worker',
            field=models.CharField(blank=True, default='', max_length=100),
        ),
        migrations.AddField(
            model_name='playgroundrun',
            name='browser_stopped_reading',
            field=models.BooleanField(default=False),
        ),
        migrations.AddIndex(
            model_name='apicall',
            index=models.Index(condition=models.Q(('worker', ''), _negated=True), fields=['worker', 'heartbeat_at'], name='apicall_in_flight'),
        ),
    ]
