-- Alert counts per hour, for stats at any size (src/services/alert-stats.ts).
CREATE TABLE "alert_hours" (
	"hour" timestamp with time zone NOT NULL,
	"severity" "severity" NOT NULL,
	"status" "alert_status" NOT NULL,
	"event_type" "event_type" NOT NULL,
	"source" varchar(255) NOT NULL,
	"n" integer NOT NULL,
	CONSTRAINT "alert_hours_hour_severity_status_event_type_source_pk" PRIMARY KEY("hour","severity","status","event_type","source")
);
--> statement-breakpoint
CREATE TABLE "alert_hours_dirty" (
	"hour" timestamp with time zone PRIMARY KEY NOT NULL
);
--> statement-breakpoint
CREATE TABLE "alert_hours_state" (
	"one" boolean PRIMARY KEY DEFAULT true NOT NULL,
	"closed_until" timestamp with time zone NOT NULL,
	CONSTRAINT "alert_hours_state_one_row" CHECK ("alert_hours_state"."one")
);
--> statement-breakpoint
-- Hand-written from here: the triggers that mark a closed hour stale when one of its alerts is
-- added, changed or deleted, in the same transaction (src/services/alert-stats.ts counts marked
-- hours again). Statement-level, with transition tables: one call per statement, never per row,
-- and nothing marked for the hours still open, where ingestion writes. A mark takes the row lock
-- (DO UPDATE) so that a recount waits for the transactions that marked the hour before it reads.
CREATE FUNCTION vigil_alert_hours_mark(hours timestamptz[]) RETURNS void LANGUAGE sql AS $$
  INSERT INTO alert_hours_dirty (hour)
  SELECT DISTINCT h FROM unnest(hours) h WHERE h < (SELECT closed_until FROM alert_hours_state) ORDER BY h
  ON CONFLICT (hour) DO UPDATE SET hour = excluded.hour
$$;--> statement-breakpoint
CREATE FUNCTION vigil_alert_hours_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Each trigger defines only its own transition tables; a branch is planned when it first runs.
  IF TG_OP = 'INSERT' THEN
    PERFORM vigil_alert_hours_mark(ARRAY(SELECT date_trunc('hour', created_at, 'UTC') FROM new_rows));
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM vigil_alert_hours_mark(ARRAY(SELECT date_trunc('hour', created_at, 'UTC') FROM old_rows));
  ELSE
    -- Only rows whose counted columns changed (updated_at alone changes nothing counted).
    PERFORM vigil_alert_hours_mark(ARRAY(
      SELECT date_trunc('hour', c.at, 'UTC')
      FROM old_rows o JOIN new_rows n USING (id), LATERAL (VALUES (o.created_at), (n.created_at)) AS c(at)
      WHERE (o.created_at, o.severity, o.status, o.event_type, o.source) IS DISTINCT FROM (n.created_at, n.severity, n.status, n.event_type, n.source)));
  END IF;
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER alert_hours_inserted AFTER INSERT ON alerts REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION vigil_alert_hours_changed();--> statement-breakpoint
CREATE TRIGGER alert_hours_deleted AFTER DELETE ON alerts REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION vigil_alert_hours_changed();--> statement-breakpoint
CREATE TRIGGER alert_hours_updated AFTER UPDATE ON alerts REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION vigil_alert_hours_changed();--> statement-breakpoint
-- Nothing is counted yet: from the first hour holding an alert on, the application counts the
-- closed hours, a bounded number per round, and stats read alerts for the hours not yet counted.
INSERT INTO alert_hours_state (one, closed_until)
  SELECT true, coalesce(date_trunc('hour', min(created_at), 'UTC'), date_trunc('hour', now(), 'UTC')) FROM alerts;
