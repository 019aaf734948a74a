import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0005_operations')]

    initial = False

    operations = [
        ops.CreateModel(
            name='BotDataFile',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('content', fields.TextField(unique=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'bot_data_file', 'app': 'models', 'pk_attr': 'name', 'table_description': "The text of one of the bot's other data files (intents, synonyms, stop-words, user dictionary)."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='BotEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('entry_id', fields.CharField(unique=True, max_length=64)),
                ('position', fields.IntField(default=0)),
                ('category', fields.CharField(default='', max_length=32)),
                ('question', fields.CharField(max_length=200)),
                ('phrasings', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('keywords', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('answer', fields.TextField(unique=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'bot_entry', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One knowledge-base entry (seeded from bot/data/kb.yaml, then edited by staff through the API).'},
            bases=['Model'],
        ),
    ]
