CREATE TABLE "stream_tickets" (
	"hash" varchar(64) PRIMARY KEY NOT NULL,
	"user_id" bigint NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "stream_tickets" ADD CONSTRAINT "stream_tickets_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "stream_tickets_expires_at_idx" ON "stream_tickets" USING btree ("expires_at");--> statement-breakpoint
-- Hand-written: one notification per statement that writes alert history (the outbox), so
-- streams and webhook dispatchers on every instance read it at once instead of at their next
-- poll. Per statement, not per row, and with one payload, which PostgreSQL folds into one
-- notification per transaction: the ingest statement pays for it once.
CREATE FUNCTION vigil_notify_alert_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('vigil_alert_changes', '');
  RETURN NULL;
END;
$$;--> statement-breakpoint
CREATE TRIGGER alert_history_notify AFTER INSERT ON alert_history
  FOR EACH STATEMENT EXECUTE FUNCTION vigil_notify_alert_changes();
