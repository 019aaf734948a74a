from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        # One row per person from now on: should two rows share a unionid, the older keeps it.
        ops.RunSQL(
            "UPDATE citizen SET unionid = NULL WHERE unionid IS NOT NULL AND id NOT IN "
            "(SELECT MIN(id) FROM citizen WHERE unionid IS NOT NULL GROUP BY unionid)",
            reverse_sql="",
        ),
        ops.AlterField(
            model_name='Citizen',
            name='openid',
            field=fields.CharField(null=True, unique=True, max_length=64),
        ),
        ops.AlterField(
            model_name='Citizen',
            name='unionid',
            field=fields.CharField(null=True, unique=True, max_length=64),
        ),
        ops.AddField(
            model_name='Citizen',
            name='claimed_id_hash',
            field=fields.CharField(null=True, db_index=True, max_length=64),
        ),
        ops.AddField(
            model_name='Citizen',
            name='oa_openid',
            field=fields.CharField(null=True, unique=True, max_length=64),
        ),
        ops.AddField(
            model_name='Citizen',
            name='verified_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Citizen',
            name='verified_by',
            field=fields.CharField(null=True, max_length=16),
        ),
        # Self-declared bindings proved nothing: they keep their claim (shown to the user, masked) but stop
        # unlocking anything keyed by the ID number until the person verifies by face or at the counter.
        ops.RunSQL(
            "UPDATE citizen SET claimed_id_hash = id_hash, id_hash = NULL WHERE id_hash IS NOT NULL",
            reverse_sql="UPDATE citizen SET id_hash = claimed_id_hash WHERE id_hash IS NULL AND verified_by IS NULL",
        ),
    ]
