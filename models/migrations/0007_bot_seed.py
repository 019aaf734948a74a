from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0006_bot_kb')]

    initial = False

    operations = [
        ops.CreateModel(
            name='BotSeed',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=128)),
                ('digest', fields.CharField(max_length=64)),
                ('content', fields.TextField(unique=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'bot_seed', 'app': 'models', 'pk_attr': 'name', 'table_description': 'What the last `dengji db seed` took from the data files: one row per entry ("entry:<id>") and per other'},
            bases=['Model'],
        ),
    ]
