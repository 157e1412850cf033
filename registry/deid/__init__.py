"""De-identified exports, framework-free: profiles, pseudonyms, the transform, k-anonymity, codebook, writers.

The application wires these pure functions to its models, Celery and pages::

    result = deidentify(tables, profile=get_profile("safe_harbor", k=5), key=key, project_id=project_id,
                        field_meta=default_field_meta(sites=...), site_countries=...)
    data = export_files(result.tables, result.fields, formats=["csv", "parquet"], timestamp=data_cut)
    bundle = zip_bundle(bundle_files(data, export_id=..., result=result, ...), timestamp=data_cut)
"""

from registry.deid.codebook import codebook_csv, codebook_entries, codebook_json, numeric_codes, stata_names
from registry.deid.errors import DeidError, KAnonymityError, PseudonymCollisionError, WriterError
from registry.deid.fields import (
    ANALYSIS,
    FOLLOW_UPS,
    IRAES,
    QI,
    RESPONSES,
    TABLE_TITLES,
    FieldKind,
    FieldMeta,
    Flag,
    Role,
    assessment_fields,
    default_field_meta,
    derived_fields,
    fields_from_import_columns,
)
from registry.deid.kanon import k_anonymise, smallest_group
from registry.deid.manifest import (
    DEFAULT_TERMS,
    MANIFEST_NAME,
    README_NAME,
    build_manifest,
    bundle_files,
    manifest_json,
    readme_text,
)
from registry.deid.profiles import (
    DEFAULT_PROFILE,
    LIMITED_DATASET,
    PROFILES,
    SAFE_HARBOR,
    SUPPRESSED,
    DateRule,
    Profile,
    get_profile,
)
from registry.deid.pseudonyms import MIN_KEY_BYTES, date_offset, pseudonym
from registry.deid.transform import PSEUDONYM_COLUMN, DeidCounts, DeidResult, deidentify
from registry.deid.writers import FORMATS, export_files, write_table, zip_bundle

__all__ = [
    "ANALYSIS",
    "DEFAULT_PROFILE",
    "DEFAULT_TERMS",
    "FOLLOW_UPS",
    "FORMATS",
    "IRAES",
    "LIMITED_DATASET",
    "MANIFEST_NAME",
    "MIN_KEY_BYTES",
    "PROFILES",
    "PSEUDONYM_COLUMN",
    "QI",
    "README_NAME",
    "RESPONSES",
    "SAFE_HARBOR",
    "SUPPRESSED",
    "TABLE_TITLES",
    "DateRule",
    "DeidCounts",
    "DeidError",
    "DeidResult",
    "FieldKind",
    "FieldMeta",
    "Flag",
    "KAnonymityError",
    "Profile",
    "PseudonymCollisionError",
    "Role",
    "WriterError",
    "assessment_fields",
    "build_manifest",
    "bundle_files",
    "codebook_csv",
    "codebook_entries",
    "codebook_json",
    "date_offset",
    "default_field_meta",
    "deidentify",
    "derived_fields",
    "export_files",
    "fields_from_import_columns",
    "get_profile",
    "k_anonymise",
    "manifest_json",
    "numeric_codes",
    "pseudonym",
    "readme_text",
    "smallest_group",
    "stata_names",
    "write_table",
    "zip_bundle",
]
