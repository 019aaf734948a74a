from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_queue')]

    initial = False

    operations = [
        ops.AddField(
            model_name='StaffUser',
            name='session_version',
            field=fields.IntField(default=1),
        ),
    ]
