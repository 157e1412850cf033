"""Missing stays missing (issue 7, item 4): yes/no/unknown answers and no invented defaults.

Existing rows keep their values: irAE flags stay True/False, prednisone doses stay as entered, and the
new irAE-history questions start unanswered ("").
"""

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('clinical', '0001_initial'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='rechallengeepisode',
            name='episode_prednisone_not_negative',
        ),
        migrations.AddField(
            model_name='initialcourse',
            name='iraes_during_course',
            field=models.CharField(blank=True, choices=[('yes', 'Yes'), ('no', 'No irAEs during this course'), ('unknown', 'Unknown')], help_text="Answer 'no' only if ICI-1 had no irAE at all; leave empty if not yet checked.", max_length=7, verbose_name='irAEs during ICI-1?'),
        ),
        migrations.AddField(
            model_name='rechallengeepisode',
            name='iraes_during_rechallenge',
            field=models.CharField(blank=True, choices=[('yes', 'Yes'), ('no', 'No irAEs during this course'), ('unknown', 'Unknown')], help_text="Answer 'no' only if this rechallenge had no irAE at all; leave empty if not yet checked.", max_length=7, verbose_name='irAEs during this rechallenge?'),
        ),
        migrations.AlterField(
            model_name='adverseevent',
            name='hospitalised',
            field=models.BooleanField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='adverseevent',
            name='led_to_discontinuation',
            field=models.BooleanField(blank=True, null=True, verbose_name='Led to discontinuation'),
        ),
        migrations.AlterField(
            model_name='adverseevent',
            name='steroid_refractory',
            field=models.BooleanField(blank=True, help_text='No improvement after 48–72 h of high-dose corticosteroids.', null=True),
        ),
        migrations.AlterField(
            model_name='rechallengeepisode',
            name='current_prednisone_mg_per_day',
            field=models.DecimalField(blank=True, decimal_places=1, help_text='Corticosteroid dose at rechallenge start, prednisone-equivalent. Leave empty if not recorded; 0 if none.', max_digits=6, null=True, validators=[django.core.validators.MinValueValidator(0)], verbose_name='Current prednisone-equivalent dose (mg/day)'),
        ),
        migrations.AddConstraint(
            model_name='rechallengeepisode',
            constraint=models.CheckConstraint(condition=models.Q(('current_prednisone_mg_per_day__isnull', True), ('current_prednisone_mg_per_day__gte', 0), _connector='OR'), name='episode_prednisone_not_negative'),
        ),
    ]
