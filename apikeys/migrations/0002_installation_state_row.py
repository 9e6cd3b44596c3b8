from django.db import migrations


def create_state(apps, schema_editor):
    InstallationState = apps.get_model("apikeys", "InstallationState")
    ApiKey = apps.get_model("apikeys", "ApiKey")
    InstallationState.objects.get_or_create(
        id=1, defaults={"keys_ever_issued": ApiKey.objects.exists()}
    )


class Migration(migrations.Migration):
    dependencies = [("apikeys", "0001_initial")]

    operations = [migrations.RunPython(create_state, migrations.RunPython.noop)]
