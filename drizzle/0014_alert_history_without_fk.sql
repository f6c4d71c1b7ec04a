ALTER TABLE "alert_history" DROP CONSTRAINT "alert_history_alert_id_alerts_id_fk";
--> statement-breakpoint
-- Hand-written: the history goes with its alert, as the foreign key's ON DELETE CASCADE did, but
-- once per statement (set-based) instead of one check per inserted history row.
CREATE FUNCTION vigil_alert_history_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    -- DELETE, not TRUNCATE: a TRUNCATE naming both tables has alert_history in use (and empty) here.
    DELETE FROM alert_history;
  ELSE
    DELETE FROM alert_history h USING gone g WHERE h.alert_id = g.id;
  END IF;
  RETURN NULL;
END;
$$;--> statement-breakpoint
CREATE TRIGGER alerts_history_gone AFTER DELETE ON alerts REFERENCING OLD TABLE AS gone
  FOR EACH STATEMENT EXECUTE FUNCTION vigil_alert_history_gone();--> statement-breakpoint
CREATE TRIGGER alerts_history_truncated AFTER TRUNCATE ON alerts
  FOR EACH STATEMENT EXECUTE FUNCTION vigil_alert_history_gone();
