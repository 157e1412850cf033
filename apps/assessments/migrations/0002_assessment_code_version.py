"""Each locked assessment records the code version that evaluated it (issue 7, item 7).

Assessments locked before this migration keep every value they have and get an empty code version,
meaning "made before code versions were recorded": nothing is guessed for them.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('assessments', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='assessment',
            name='code_version',
            field=models.CharField(blank=True, help_text='Project version and git commit of the code that evaluated the model; empty for assessments made before code versions were recorded.', max_length=64),
        ),
    ]
