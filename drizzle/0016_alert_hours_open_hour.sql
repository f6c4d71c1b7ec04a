-- Hand-written: the alert_hours triggers (0006) skip the mark when no row is in a closed hour.
-- A statement-level trigger fires for every statement, even one that changed no alert, and the
-- mark's INSERT ... ON CONFLICT costs its executor's start-up even for no rows: for a one-event
-- ingestion statement (which raises its alerts in the open hour, or none), the trigger was about
-- a third of the statement's execution. The check reads the same closed_until the mark filters
-- by, so what is marked is what was marked before.
CREATE OR REPLACE FUNCTION vigil_alert_hours_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  hours timestamptz[];
BEGIN
  -- Each trigger defines only its own transition tables; a branch is planned when it first runs.
  IF TG_OP = 'INSERT' THEN
    IF EXISTS (SELECT 1 FROM new_rows WHERE date_trunc('hour', created_at, 'UTC') < (SELECT closed_until FROM alert_hours_state)) THEN
      PERFORM vigil_alert_hours_mark(ARRAY(SELECT date_trunc('hour', created_at, 'UTC') FROM new_rows));
    END IF;
  ELSIF TG_OP = 'DELETE' THEN
    IF EXISTS (SELECT 1 FROM old_rows WHERE date_trunc('hour', created_at, 'UTC') < (SELECT closed_until FROM alert_hours_state)) THEN
      PERFORM vigil_alert_hours_mark(ARRAY(SELECT date_trunc('hour', created_at, 'UTC') FROM old_rows));
    END IF;
  ELSE
    -- Only rows whose counted columns changed (updated_at alone changes nothing counted).
    hours := ARRAY(
      SELECT date_trunc('hour', c.at, 'UTC')
      FROM old_rows o JOIN new_rows n USING (id), LATERAL (VALUES (o.created_at), (n.created_at)) AS c(at)
      WHERE (o.created_at, o.severity, o.status, o.event_type, o.source) IS DISTINCT FROM (n.created_at, n.severity, n.status, n.event_type, n.source));
    IF EXISTS (SELECT 1 FROM unnest(hours) h WHERE h < (SELECT closed_until FROM alert_hours_state)) THEN
      PERFORM vigil_alert_hours_mark(hours);
    END IF;
  END IF;
  RETURN NULL;
END
$$;
