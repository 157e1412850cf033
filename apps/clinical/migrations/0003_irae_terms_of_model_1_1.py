"""New CTCAE terms and the haematological organ category for the contraindications of model 1.1 (item 5).

Only the choices change; no stored value does.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('clinical', '0002_missing_stays_missing'),
    ]

    operations = [
        migrations.AlterField(
            model_name='adverseevent',
            name='ctcae_term',
            field=models.CharField(choices=[('colitis', 'Colitis'), ('diarrhea', 'Diarrhea'), ('alt_increased', 'Alanine aminotransferase increased'), ('ast_increased', 'Aspartate aminotransferase increased'), ('blood_bilirubin_increased', 'Blood bilirubin increased'), ('hepatitis', 'Hepatitis (immune-mediated)'), ('pneumonitis', 'Pneumonitis'), ('hypothyroidism', 'Hypothyroidism'), ('hyperthyroidism', 'Hyperthyroidism'), ('adrenal_insufficiency', 'Adrenal insufficiency'), ('hypophysitis', 'Hypophysitis'), ('hyperglycemia', 'Hyperglycemia'), ('diabetes_mellitus', 'Diabetes mellitus (CTCAE v6 term)'), ('rash_maculo_papular', 'Rash maculo-papular'), ('pruritus', 'Pruritus'), ('arthritis', 'Arthritis'), ('arthralgia', 'Arthralgia'), ('myalgia', 'Myalgia'), ('myositis', 'Myositis'), ('myocarditis', 'Myocarditis'), ('heart_failure', 'Heart failure'), ('creatinine_increased', 'Creatinine increased'), ('acute_kidney_injury', 'Acute kidney injury'), ('infusion_related_reaction', 'Infusion related reaction'), ('guillain_barre_syndrome', 'Guillain-Barre syndrome'), ('myasthenia_gravis', 'Myasthenia gravis'), ('encephalitis', 'Encephalitis'), ('uveitis', 'Uveitis'), ('pancreatitis', 'Pancreatitis'), ('nephritis', 'Nephritis (immune-mediated)'), ('myelitis', 'Myelitis (incl. transverse myelitis)'), ('stevens_johnson_syndrome', 'Stevens-Johnson syndrome'), ('toxic_epidermal_necrolysis', 'Toxic epidermal necrolysis'), ('dress', 'Drug reaction with eosinophilia and systemic symptoms (DRESS)'), ('hemolysis', 'Hemolysis (immune hemolytic anemia)'), ('immune_thrombocytopenia', 'Immune thrombocytopenia (CTCAE: platelet count decreased)')], max_length=40, verbose_name='CTCAE term'),
        ),
        migrations.AlterField(
            model_name='adverseevent',
            name='organ_category',
            field=models.CharField(choices=[('gastrointestinal', 'Gastrointestinal'), ('hepatic', 'Hepatic'), ('pulmonary', 'Pulmonary'), ('endocrine', 'Endocrine'), ('skin', 'Skin'), ('musculoskeletal', 'Musculoskeletal'), ('cardiac', 'Cardiac'), ('renal', 'Renal'), ('neurological', 'Neurological'), ('ocular', 'Ocular'), ('pancreatic', 'Pancreatic'), ('haematological', 'Haematological'), ('other', 'Other')], editable=False, help_text='Filled from the CTCAE term.', max_length=20),
        ),
    ]
