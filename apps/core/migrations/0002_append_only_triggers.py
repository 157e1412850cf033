"""On PostgreSQL, the database itself refuses UPDATE and DELETE of audit entries and locked assessments.

The application already refuses both; the trigger also stops a stray SQL session. SQLite (the
embedded default for development) relies on the application guard alone.
"""

from django.db import migrations

TABLES = ("core_auditentry", "assessments_assessment")

FUNCTION = """
CREATE OR REPLACE FUNCTION registry_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'rows of % are append-only', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION registry_refuse_change();"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
    schema_editor.execute("DROP FUNCTION IF EXISTS registry_refuse_change();")


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial"), ("assessments", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
