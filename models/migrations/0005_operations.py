from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.booking import BookingStatus
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0004_staff_sessions')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Bank',
            fields=[
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=64)),
                ('branches', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('online_mortgage', fields.BooleanField(default=False)),
                ('online_mortgage_since', fields.DateField(null=True)),
                ('active', fields.BooleanField(default=True)),
            ],
            options={'table': 'bank', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A networked bank (联网银行): its service points and whether mortgages are registered fully online.'},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='CaseFigureDay',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.DateField()),
                ('hall_code', fields.CharField(max_length=32)),
                ('business_type', fields.CharField(max_length=64)),
                ('online_self', fields.IntField(default=0)),
                ('online_agent', fields.IntField(default=0)),
                ('at_hall', fields.IntField(default=0)),
                ('unknown', fields.IntField(default=0)),
            ],
            options={'table': 'case_figure_day', 'app': 'models', 'unique_together': (('day', 'hall_code', 'business_type'),), 'pk_attr': 'id', 'table_description': 'Cases accepted on one day at one hall for one business type, counted by filing channel.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='FigureDay',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.DateField()),
                ('hall_code', fields.CharField(max_length=32)),
                ('bookings', fields.IntField(default=0)),
                ('check_ins', fields.IntField(default=0)),
                ('no_shows', fields.IntField(default=0)),
                ('walk_ins', fields.IntField(default=0)),
                ('wait_seconds', fields.BigIntField(default=0)),
                ('waits', fields.IntField(default=0)),
                ('rolled_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'figure_day', 'app': 'models', 'unique_together': (('day', 'hall_code'),), 'pk_attr': 'id', 'table_description': 'Bookings, check-ins, no-shows and walk-ins of one hall on one day (slot date).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='HallScopePause',
            fields=[
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('hall_code', fields.CharField(max_length=32)),
                ('business_type', fields.CharField(max_length=64)),
                ('reason', fields.CharField(max_length=255)),
                ('staff_id', fields.IntField(null=True)),
            ],
            options={'table': 'hall_scope_pause', 'app': 'models', 'unique_together': (('hall_code', 'business_type'),), 'pk_attr': 'id', 'table_description': 'A business type paused at one hall (e.g. 非公证继承 only at the center hall), with the reason shown.'},
            bases=['TimestampedModel'],
        ),
        ops.AlterField(
            model_name='Booking',
            name='status',
            field=fields.CharEnumField(db_index=True, description='PENDING: pending\nCONFIRMED: confirmed\nCHECKED_IN: checked_in\nCANCELLED: cancelled\nDECLINED: declined\nNO_SHOW: no_show\nEXPIRED: expired\nCENTER_CANCELLED: center_cancelled', enum_type=BookingStatus, max_length=16),
        ),
        ops.AddField(
            model_name='Booking',
            name='cancel_reason',
            field=fields.CharField(null=True, max_length=255),
        ),
        ops.AddField(
            model_name='Booking',
            name='center_notified_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Booking',
            name='closure_id',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='BusinessType',
            name='online_schedule',
            field=fields.JSONField(default=list, db_default='[]', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='Case',
            name='channel',
            field=fields.CharField(default='unknown', db_default='unknown', max_length=16),
        ),
        ops.AddField(
            model_name='Case',
            name='correction_since',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Case',
            name='e_cert_no',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='Case',
            name='e_cert_url',
            field=fields.CharField(null=True, max_length=512),
        ),
        ops.AddIndex(
            model_name='Case',
            index=Index(fields=['accepted_at']),
        ),
        ops.AddField(
            model_name='CaseNotification',
            name='attempted_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
