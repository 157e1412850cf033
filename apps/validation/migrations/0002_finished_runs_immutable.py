"""On PostgreSQL, the database itself refuses to change or delete a finished validation run.

The application already refuses both (model and queryset); the trigger also stops a stray SQL
session. A run in progress may move forward (status, progress, outcome), but never changes what it
validates: its model version and hash, data cut, trigger, starter or creation time. SQLite (the
embedded default for development) relies on the application guard alone.
"""

from django.db import migrations

TABLE = "validation_validationrun"

FUNCTION = """
CREATE OR REPLACE FUNCTION validation_run_refuse_change() RETURNS trigger AS $$
BEGIN
    IF OLD.status IN ('succeeded', 'failed') THEN
        RAISE EXCEPTION 'validation run % is finished: it cannot be changed or deleted', OLD.id;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    IF NEW.model_version IS DISTINCT FROM OLD.model_version
        OR NEW.model_hash IS DISTINCT FROM OLD.model_hash
        OR NEW.data_cut IS DISTINCT FROM OLD.data_cut
        OR NEW.trigger IS DISTINCT FROM OLD.trigger
        OR NEW.started_by_id IS DISTINCT FROM OLD.started_by_id
        OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'validation run %: what a run validates cannot be changed', OLD.id;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)
    schema_editor.execute(
        f"CREATE TRIGGER {TABLE}_finished_immutable BEFORE UPDATE OR DELETE ON {TABLE} "
        "FOR EACH ROW EXECUTE FUNCTION validation_run_refuse_change();"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_finished_immutable ON {TABLE};")
    schema_editor.execute("DROP FUNCTION IF EXISTS validation_run_refuse_change();")


class Migration(migrations.Migration):
    dependencies = [("validation", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
