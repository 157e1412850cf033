"""A run's figures, stored with it; on PostgreSQL the database refuses to change them or to add any to a
finished run (the worker writes them in the transaction that finishes the run). SQLite relies on the
application guard alone, as for the runs (0002)."""

import django.db.models.deletion
from django.db import migrations, models


TABLE = "validation_validationrunfigure"

FUNCTION = """
CREATE OR REPLACE FUNCTION validation_figure_refuse_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF EXISTS (
            SELECT 1 FROM validation_validationrun WHERE id = NEW.run_id AND status IN ('succeeded', 'failed')
        ) THEN
            RAISE EXCEPTION 'validation run % is finished: no figure can be added to it', NEW.run_id;
        END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the figures of validation run % cannot be changed or deleted', OLD.run_id;
END;
$$ LANGUAGE plpgsql;
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)
    schema_editor.execute(
        f"CREATE TRIGGER {TABLE}_immutable BEFORE INSERT OR UPDATE OR DELETE ON {TABLE} "
        "FOR EACH ROW EXECUTE FUNCTION validation_figure_refuse_change();"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_immutable ON {TABLE};")
    schema_editor.execute("DROP FUNCTION IF EXISTS validation_figure_refuse_change();")


class Migration(migrations.Migration):

    dependencies = [
        ('validation', '0002_finished_runs_immutable'),
    ]

    operations = [
        migrations.CreateModel(
            name='ValidationRunFigure',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('population', models.CharField(max_length=20)),
                ('name', models.CharField(help_text="Figure name, as in the report's URL (km-pfs2, forest-site…).", max_length=30)),
                ('svg', models.TextField()),
                ('sha256', models.CharField(help_text="SHA-256 of the SVG text (the figure's ETag).", max_length=64)),
                ('plot_format', models.CharField(help_text='Version of the drawing code that drew it.', max_length=40)),
                ('run', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='figures', to='validation.validationrun')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('run', 'population', 'name'), name='validation_figure_once_per_run')],
            },
        ),
        migrations.RunPython(create, drop),
    ]
