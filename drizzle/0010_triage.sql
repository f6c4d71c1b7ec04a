CREATE TYPE "public"."bulk_job_state" AS ENUM('pending', 'running', 'done');--> statement-breakpoint
CREATE TYPE "public"."alert_verdict" AS ENUM('true_positive', 'benign_positive', 'false_positive', 'duplicate', 'other');--> statement-breakpoint
CREATE TYPE "public"."view_list" AS ENUM('alerts', 'events', 'incidents');--> statement-breakpoint
CREATE TABLE "alert_comments" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "alert_comments_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"alert_id" bigint NOT NULL,
	"author_id" bigint,
	"author" varchar(255),
	"body" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "alert_events" (
	"alert_id" bigint NOT NULL,
	"event_id" bigint NOT NULL,
	"event_timestamp" timestamp with time zone NOT NULL,
	CONSTRAINT "alert_events_alert_id_event_id_pk" PRIMARY KEY("alert_id","event_id")
);
--> statement-breakpoint
CREATE TABLE "alert_history" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "alert_history_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"alert_id" bigint NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"actor_id" bigint,
	"actor" varchar(255),
	"action" varchar(32) NOT NULL,
	"before" jsonb,
	"after" jsonb
);
--> statement-breakpoint
CREATE TABLE "bulk_job_items" (
	"job_id" bigint NOT NULL,
	"alert_id" bigint NOT NULL,
	"version" integer NOT NULL,
	CONSTRAINT "bulk_job_items_job_id_alert_id_pk" PRIMARY KEY("job_id","alert_id")
);
--> statement-breakpoint
CREATE TABLE "bulk_jobs" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "bulk_jobs_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"created_by_id" bigint,
	"created_by" varchar(255),
	"state" "bulk_job_state" DEFAULT 'pending' NOT NULL,
	"filter" jsonb NOT NULL,
	"change" jsonb NOT NULL,
	"max_alert_id" bigint NOT NULL,
	"matched" bigint DEFAULT 0 NOT NULL,
	"updated" bigint DEFAULT 0 NOT NULL,
	"skipped" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"failed" bigint DEFAULT 0 NOT NULL,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "saved_views" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "saved_views_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"owner_id" bigint NOT NULL,
	"name" varchar(100) NOT NULL,
	"list" "view_list" DEFAULT 'alerts' NOT NULL,
	"filters" jsonb NOT NULL,
	"shared" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "suppressions" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "suppressions_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"source" varchar(255),
	"event_type" "event_type",
	"severity" "severity",
	"rule_id" varchar(255),
	"fields" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"reason" text NOT NULL,
	"owner_id" bigint,
	"expires_at" timestamp with time zone NOT NULL,
	"hits" bigint DEFAULT 0 NOT NULL,
	"last_hit_at" timestamp with time zone,
	"created_by_id" bigint,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "assignee_id" bigint;--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "verdict" "alert_verdict";--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "reason" text;--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "tags" text[] DEFAULT '{}'::text[] NOT NULL;--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "acknowledged_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "resolved_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "raised_by_id" bigint;--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "version" integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "fingerprint" varchar(64);--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "occurrences" integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "first_seen" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "last_seen" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "previous_alert_id" bigint;--> statement-breakpoint
ALTER TABLE "events" ADD COLUMN "suppression_id" bigint;--> statement-breakpoint
ALTER TABLE "models" ADD COLUMN "group_alerts" boolean;--> statement-breakpoint
ALTER TABLE "models" ADD COLUMN "group_by" text[];--> statement-breakpoint
ALTER TABLE "alert_comments" ADD CONSTRAINT "alert_comments_alert_id_alerts_id_fk" FOREIGN KEY ("alert_id") REFERENCES "public"."alerts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "alert_comments" ADD CONSTRAINT "alert_comments_author_id_users_id_fk" FOREIGN KEY ("author_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "alert_events" ADD CONSTRAINT "alert_events_alert_id_alerts_id_fk" FOREIGN KEY ("alert_id") REFERENCES "public"."alerts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "alert_events" ADD CONSTRAINT "alert_events_event_fk" FOREIGN KEY ("event_id","event_timestamp") REFERENCES "public"."events"("id","timestamp") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "alert_history" ADD CONSTRAINT "alert_history_alert_id_alerts_id_fk" FOREIGN KEY ("alert_id") REFERENCES "public"."alerts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "alert_history" ADD CONSTRAINT "alert_history_actor_id_users_id_fk" FOREIGN KEY ("actor_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "bulk_job_items" ADD CONSTRAINT "bulk_job_items_job_id_bulk_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."bulk_jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "bulk_jobs" ADD CONSTRAINT "bulk_jobs_created_by_id_users_id_fk" FOREIGN KEY ("created_by_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "saved_views" ADD CONSTRAINT "saved_views_owner_id_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "suppressions" ADD CONSTRAINT "suppressions_owner_id_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "suppressions" ADD CONSTRAINT "suppressions_created_by_id_users_id_fk" FOREIGN KEY ("created_by_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "alert_comments_alert_created_at_id_idx" ON "alert_comments" USING btree ("alert_id","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "alert_events_event_timestamp_idx" ON "alert_events" USING brin ("event_timestamp");--> statement-breakpoint
CREATE INDEX "alert_history_alert_created_at_id_idx" ON "alert_history" USING btree ("alert_id","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "bulk_jobs_state_idx" ON "bulk_jobs" USING btree ("state") WHERE "bulk_jobs"."state" <> 'done';--> statement-breakpoint
CREATE INDEX "bulk_jobs_created_at_id_idx" ON "bulk_jobs" USING btree ("created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE UNIQUE INDEX "saved_views_owner_name_idx" ON "saved_views" USING btree ("owner_id",lower("name"));--> statement-breakpoint
CREATE INDEX "saved_views_shared_idx" ON "saved_views" USING btree ("created_at" DESC NULLS LAST,"id" DESC NULLS LAST) WHERE "saved_views"."shared";--> statement-breakpoint
CREATE INDEX "suppressions_created_at_id_idx" ON "suppressions" USING btree ("created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "suppressions_expires_at_idx" ON "suppressions" USING btree ("expires_at");--> statement-breakpoint
ALTER TABLE "alerts" ADD CONSTRAINT "alerts_assignee_id_users_id_fk" FOREIGN KEY ("assignee_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "alerts" ADD CONSTRAINT "alerts_raised_by_id_users_id_fk" FOREIGN KEY ("raised_by_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "alerts_open_fingerprint_idx" ON "alerts" USING btree ("fingerprint") WHERE "alerts"."fingerprint" is not null and "alerts"."status" <> 'Resolved';--> statement-breakpoint
CREATE INDEX "alerts_fingerprint_id_idx" ON "alerts" USING btree ("fingerprint","id" DESC NULLS LAST) WHERE "alerts"."fingerprint" is not null;--> statement-breakpoint
CREATE INDEX "alerts_assignee_created_at_id_idx" ON "alerts" USING btree ("assignee_id","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "alerts_tags_idx" ON "alerts" USING gin ("tags");--> statement-breakpoint
-- Hand-written from here. A model's alert grouping is part of what the detection engine holds
-- (plugins/detection.ts reloads on vigil_models): changes to it are announced too.
DROP TRIGGER models_notify_update ON models;--> statement-breakpoint
CREATE TRIGGER models_notify_update AFTER UPDATE ON models
  FOR EACH ROW
  WHEN ((OLD.name, OLD.version, OLD.model_type, OLD.status, OLD.is_active, OLD.definition, OLD.baseline, OLD.group_alerts, OLD.group_by)
        IS DISTINCT FROM (NEW.name, NEW.version, NEW.model_type, NEW.status, NEW.is_active, NEW.definition, NEW.baseline, NEW.group_alerts, NEW.group_by))
  EXECUTE FUNCTION vigil_notify_model_change();
--> statement-breakpoint
-- Hand-written too: every change to a suppression that ingestion matches by is announced on
-- the channel vigil_suppressions (payload: the suppression's id, or '*' after a TRUNCATE) when its
-- transaction commits, so every instance reads its suppressions again (plugins/suppressions.ts).
-- Updates of the hit counters alone (hits, last_hit_at) are not announced: they are written every
-- second. The row is compared without them, so a column added later is announced too.
CREATE FUNCTION vigil_notify_suppression_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    PERFORM pg_notify('vigil_suppressions', '*');
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('vigil_suppressions', OLD.id::text);
  ELSE
    PERFORM pg_notify('vigil_suppressions', NEW.id::text);
  END IF;
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER suppressions_notify_insert_delete AFTER INSERT OR DELETE ON suppressions
  FOR EACH ROW EXECUTE FUNCTION vigil_notify_suppression_change();--> statement-breakpoint
CREATE TRIGGER suppressions_notify_update AFTER UPDATE ON suppressions
  FOR EACH ROW
  WHEN ((to_jsonb(OLD) - 'hits' - 'last_hit_at') IS DISTINCT FROM (to_jsonb(NEW) - 'hits' - 'last_hit_at'))
  EXECUTE FUNCTION vigil_notify_suppression_change();--> statement-breakpoint
CREATE TRIGGER suppressions_notify_truncate AFTER TRUNCATE ON suppressions
  FOR EACH STATEMENT EXECUTE FUNCTION vigil_notify_suppression_change();
