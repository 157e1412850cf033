"""irAEs outside the CTCAE list: "Other (specify)" kept as free text (#13).

The new term's free text (``ctcae_term_other``, empty for every stored irAE) and the term in the choices; the
course's help text names ICI-1. No stored value changes.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("clinical", "0005_missing_answers_signature_justification")]

    operations = [
        migrations.AddField(
            model_name="adverseevent",
            name="ctcae_term_other",
            field=models.CharField(
                blank=True,
                help_text="The term as CTCAE names it, when it is not in the list (CTCAE term 'Other (specify)').",
                max_length=200,
                verbose_name="Other CTCAE term",
            ),
        ),
        migrations.AlterField(
            model_name="adverseevent",
            name="ctcae_term",
            field=models.CharField(
                choices=[
                    ("colitis", "Colitis"),
                    ("diarrhea", "Diarrhea"),
                    ("alt_increased", "Alanine aminotransferase increased"),
                    ("ast_increased", "Aspartate aminotransferase increased"),
                    ("blood_bilirubin_increased", "Blood bilirubin increased"),
                    ("hepatitis", "Hepatitis (immune-mediated)"),
                    ("pneumonitis", "Pneumonitis"),
                    ("hypothyroidism", "Hypothyroidism"),
                    ("hyperthyroidism", "Hyperthyroidism"),
                    ("adrenal_insufficiency", "Adrenal insufficiency"),
                    ("hypophysitis", "Hypophysitis"),
                    ("hyperglycemia", "Hyperglycemia"),
                    ("diabetes_mellitus", "Diabetes mellitus (CTCAE v6 term)"),
                    ("rash_maculo_papular", "Rash maculo-papular"),
                    ("pruritus", "Pruritus"),
                    ("arthritis", "Arthritis"),
                    ("arthralgia", "Arthralgia"),
                    ("myalgia", "Myalgia"),
                    ("myositis", "Myositis"),
                    ("myocarditis", "Myocarditis"),
                    ("heart_failure", "Heart failure"),
                    ("creatinine_increased", "Creatinine increased"),
                    ("acute_kidney_injury", "Acute kidney injury"),
                    ("infusion_related_reaction", "Infusion related reaction"),
                    ("guillain_barre_syndrome", "Guillain-Barre syndrome"),
                    ("myasthenia_gravis", "Myasthenia gravis"),
                    ("encephalitis", "Encephalitis"),
                    ("uveitis", "Uveitis"),
                    ("pancreatitis", "Pancreatitis"),
                    ("nephritis", "Nephritis (immune-mediated)"),
                    ("myelitis", "Myelitis (incl. transverse myelitis)"),
                    ("stevens_johnson_syndrome", "Stevens-Johnson syndrome"),
                    ("toxic_epidermal_necrolysis", "Toxic epidermal necrolysis"),
                    ("dress", "Drug reaction with eosinophilia and systemic symptoms (DRESS)"),
                    ("hemolysis", "Hemolysis (immune hemolytic anemia)"),
                    ("immune_thrombocytopenia", "Immune thrombocytopenia (CTCAE: platelet count decreased)"),
                    ("other", "Other (specify)"),
                ],
                max_length=40,
                verbose_name="CTCAE term",
            ),
        ),
        migrations.AlterField(
            model_name="adverseevent",
            name="episode",
            field=models.ForeignKey(
                blank=True,
                help_text="The rechallenge the irAE occurred during; empty for an irAE of ICI-1 (the first ICI course)",
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="adverse_events",
                to="clinical.rechallengeepisode",
            ),
        ),
    ]
