from django.db import migrations, models


def create_row(apps, schema_editor):
    apps.get_model("providers", "Freshness").objects.get_or_create(id=1)


class Migration(migrations.Migration):
    dependencies = [("providers", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="Freshness",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("value", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(create_row, migrations.RunPython.noop),
    ]
