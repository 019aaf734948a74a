from tortoise import migrations
from tortoise.migrations import operations as ops
from models.queue import TicketStatus
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_identity')]

    initial = False

    operations = [
        ops.CreateModel(
            name='QueueTicket',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('hall_code', fields.CharField(max_length=32)),
                ('date', fields.DateField()),
                ('number', fields.IntField()),
                ('business_type', fields.CharField(max_length=64)),
                ('booking_id', fields.BigIntField(null=True)),
                ('walk_in_id', fields.BigIntField(null=True)),
                ('status', fields.CharEnumField(default=TicketStatus.WAITING, description='WAITING: waiting\nCALLED: called\nDONE: done\nSKIPPED: skipped', enum_type=TicketStatus, max_length=16)),
                ('window', fields.CharField(null=True, max_length=16)),
                ('calls', fields.IntField(default=0)),
                ('issued_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('called_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('done_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'queue_ticket', 'app': 'models', 'unique_together': (('hall_code', 'date', 'number'),), 'indexes': [Index(fields=['hall_code', 'date', 'status'])], 'pk_attr': 'id', 'table_description': 'A queue number of one hall on one day. Timestamps give waiting and service times.'},
            bases=['Model'],
        ),
        ops.AddIndex(
            model_name='Booking',
            index=Index(fields=['date', 'hall_code', 'status']),
        ),
        ops.AddIndex(
            model_name='Case',
            index=Index(fields=['stage', 'promised_date', 'hall', 'business_type', 'id']),
        ),
    ]
