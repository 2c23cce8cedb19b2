"""No two agreements of one customer may price the same outcome definition on overlapping dates.

The rule spans two tables (price -> agreement dates and customer), so it is a
trigger on each database rather than a single-table constraint. On PostgreSQL
the trigger locks the customer row first so two concurrent writers cannot both
pass the check.
"""

from django.db import migrations

OVERLAP_MESSAGE = "overlapping agreements price the same outcome definition for this customer"

SQLITE = [
    f"""
    CREATE TRIGGER billing_price_no_overlap_{event.lower()}
    BEFORE {event} ON billing_price
    BEGIN
        SELECT RAISE(ABORT, '{OVERLAP_MESSAGE}')
        WHERE EXISTS (
            SELECT 1 FROM billing_price p
            JOIN billing_priceagreement a ON a.id = p.agreement_id
            JOIN billing_priceagreement na ON na.id = NEW.agreement_id
            WHERE p.outcome_definition_id = NEW.outcome_definition_id
              AND p.id <> COALESCE(NEW.id, -1)
              AND a.id <> na.id
              AND a.customer_id = na.customer_id
              AND a.starts_on <= COALESCE(na.ends_on, '9999-12-31')
              AND na.starts_on <= COALESCE(a.ends_on, '9999-12-31')
        );
    END;
    """
    for event in ("INSERT", "UPDATE")
] + [
    f"""
    CREATE TRIGGER billing_agreement_no_overlap_update
    BEFORE UPDATE OF customer_id, starts_on, ends_on ON billing_priceagreement
    BEGIN
        SELECT RAISE(ABORT, '{OVERLAP_MESSAGE}')
        WHERE EXISTS (
            SELECT 1 FROM billing_price np
            JOIN billing_price p ON p.outcome_definition_id = np.outcome_definition_id
            JOIN billing_priceagreement a ON a.id = p.agreement_id
            WHERE np.agreement_id = NEW.id
              AND a.id <> NEW.id
              AND a.customer_id = NEW.customer_id
              AND a.starts_on <= COALESCE(NEW.ends_on, '9999-12-31')
              AND NEW.starts_on <= COALESCE(a.ends_on, '9999-12-31')
        );
    END;
    """
]

SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS billing_price_no_overlap_insert;",
    "DROP TRIGGER IF EXISTS billing_price_no_overlap_update;",
    "DROP TRIGGER IF EXISTS billing_agreement_no_overlap_update;",
]

POSTGRES = [
    f"""
    CREATE FUNCTION billing_price_no_overlap() RETURNS trigger AS $$
    DECLARE
        agr_customer bigint;
        agr_start date;
        agr_end date;
    BEGIN
        SELECT customer_id, starts_on, ends_on INTO agr_customer, agr_start, agr_end
        FROM billing_priceagreement WHERE id = NEW.agreement_id;
        PERFORM 1 FROM customers_customer WHERE id = agr_customer FOR UPDATE;
        IF EXISTS (
            SELECT 1 FROM billing_price p
            JOIN billing_priceagreement a ON a.id = p.agreement_id
            WHERE p.outcome_definition_id = NEW.outcome_definition_id
              AND p.id <> NEW.id
              AND a.id <> NEW.agreement_id
              AND a.customer_id = agr_customer
              AND daterange(a.starts_on, a.ends_on, '[]')
                  && daterange(agr_start, agr_end, '[]')
        ) THEN
            RAISE EXCEPTION '{OVERLAP_MESSAGE}' USING ERRCODE = 'exclusion_violation';
        END IF;
        RETURN NEW;
    END;
    $$ LANGUAGE plpgsql;
    """,
    """
    CREATE TRIGGER billing_price_no_overlap
    BEFORE INSERT OR UPDATE OF agreement_id, outcome_definition_id ON billing_price
    FOR EACH ROW EXECUTE FUNCTION billing_price_no_overlap();
    """,
    f"""
    CREATE FUNCTION billing_agreement_no_overlap() RETURNS trigger AS $$
    BEGIN
        IF NEW.ends_on < NEW.starts_on THEN
            RETURN NEW;  -- refused by the agreement_ends_after_start check
        END IF;
        PERFORM 1 FROM customers_customer WHERE id = NEW.customer_id FOR UPDATE;
        IF EXISTS (
            SELECT 1 FROM billing_price np
            JOIN billing_price p ON p.outcome_definition_id = np.outcome_definition_id
            JOIN billing_priceagreement a ON a.id = p.agreement_id
            WHERE np.agreement_id = NEW.id
              AND a.id <> NEW.id
              AND a.customer_id = NEW.customer_id
              AND daterange(a.starts_on, a.ends_on, '[]')
                  && daterange(NEW.starts_on, NEW.ends_on, '[]')
        ) THEN
            RAISE EXCEPTION '{OVERLAP_MESSAGE}' USING ERRCODE = 'exclusion_violation';
        END IF;
        RETURN NEW;
    END;
    $$ LANGUAGE plpgsql;
    """,
    """
    CREATE TRIGGER billing_agreement_no_overlap
    BEFORE UPDATE OF customer_id, starts_on, ends_on ON billing_priceagreement
    FOR EACH ROW EXECUTE FUNCTION billing_agreement_no_overlap();
    """,
]

POSTGRES_REVERSE = [
    "DROP TRIGGER IF EXISTS billing_price_no_overlap ON billing_price;",
    "DROP TRIGGER IF EXISTS billing_agreement_no_overlap ON billing_priceagreement;",
    "DROP FUNCTION IF EXISTS billing_price_no_overlap();",
    "DROP FUNCTION IF EXISTS billing_agreement_no_overlap();",
]


def forwards(apps, schema_editor):
    statements = POSTGRES if schema_editor.connection.vendor == "postgresql" else SQLITE
    for sql in statements:
        schema_editor.execute(sql)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for sql in POSTGRES_REVERSE if vendor == "postgresql" else SQLITE_REVERSE:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
