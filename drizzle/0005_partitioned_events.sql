-- Events become a table partitioned by storage time ("timestamp"): a partition per UTC day, made
-- ahead by the application (src/db/partitions.ts, through vigil_event_partition below), so that
-- retention drops whole days. The rows of the table as it was move into the new one with their ids
-- and times; the days before the current month go into a partition per month.
--
-- A unique key of a partitioned table must hold the partition key, so:
--   * the primary key is (id, timestamp), and ids come from a plain sequence that continues where
--     the identity column stopped (PostgreSQL 15 has no identity on partitioned tables);
--   * (source, external_id) idempotency moves to event_keys, one row per key of a stored event;
--   * alerts refer to their event by (event_id, event_timestamp).
-- Written by hand: drizzle-kit cannot express partitioning. The snapshot matches schema.ts.

-- 1. The old table steps aside. Its indexes are dropped (their names go to the new table's), and
--    its identity's position is carried to a sequence of the new table's own.
ALTER TABLE "alerts" DROP CONSTRAINT "alerts_event_id_events_id_fk";--> statement-breakpoint
ALTER TABLE "events" RENAME TO "events_unpartitioned";--> statement-breakpoint
ALTER TABLE "events_unpartitioned" DROP CONSTRAINT "events_pkey";--> statement-breakpoint
DROP INDEX "events_timestamp_id_idx";--> statement-breakpoint
DROP INDEX "events_severity_timestamp_id_idx";--> statement-breakpoint
DROP INDEX "events_event_type_timestamp_id_idx";--> statement-breakpoint
DROP INDEX "events_source_timestamp_id_idx";--> statement-breakpoint
DROP INDEX "events_updated_at_id_idx";--> statement-breakpoint
DROP INDEX "events_source_external_id_idx";--> statement-breakpoint
CREATE SEQUENCE "public"."events_id_seq_next" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1;--> statement-breakpoint
SELECT setval('events_id_seq_next', (SELECT last_value FROM events_id_seq), (SELECT is_called FROM events_id_seq));--> statement-breakpoint
ALTER TABLE "events_unpartitioned" ALTER COLUMN "id" DROP IDENTITY;--> statement-breakpoint
ALTER SEQUENCE "events_id_seq_next" RENAME TO "events_id_seq";--> statement-breakpoint

-- 2. The partitioned table, and the one function that makes its partitions. A partition is made
--    empty and then attached, which locks the parent far more lightly than CREATE ... PARTITION OF
--    (inserts and lists go on). Instances starting together serialise on an advisory lock; a
--    range some other partition already covers is left to it.
CREATE TABLE "events" (
	"id" bigint DEFAULT nextval('events_id_seq') NOT NULL,
	"source" varchar(255) NOT NULL,
	"event_type" "event_type" NOT NULL,
	"severity" "severity" NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"timestamp" timestamp with time zone DEFAULT now() NOT NULL,
	"occurred_at" timestamp with time zone,
	"external_id" varchar(255),
	"attributes" jsonb,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "events_source_not_empty" CHECK (char_length("events"."source") >= 1)
) PARTITION BY RANGE ("timestamp");--> statement-breakpoint
ALTER SEQUENCE "events_id_seq" OWNED BY "events"."id";--> statement-breakpoint
CREATE FUNCTION vigil_event_partition(from_day date, to_day date) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  name text := format('events_p%s_%s', to_char(from_day, 'YYYYMMDD'), to_char(to_day, 'YYYYMMDD'));
BEGIN
  IF to_regclass(format('public.%I', name)) IS NOT NULL THEN RETURN false; END IF;
  PERFORM pg_advisory_xact_lock(727276);
  IF to_regclass(format('public.%I', name)) IS NOT NULL THEN RETURN false; END IF;
  EXECUTE format('CREATE TABLE public.%I (LIKE public.events INCLUDING CONSTRAINTS)', name);
  EXECUTE format('ALTER TABLE public.events ATTACH PARTITION public.%I FOR VALUES FROM (%L) TO (%L)',
                 name, from_day::timestamp AT TIME ZONE 'UTC', to_day::timestamp AT TIME ZONE 'UTC');
  RETURN true;
EXCEPTION WHEN invalid_object_definition THEN
  RETURN false;
END
$$;--> statement-breakpoint

-- 3. Partitions for the rows already stored: a month each before the current month, a day each
--    from its first day on. The application makes the days ahead at every start.
DO $$
DECLARE
  this_month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
  first_day date;
  last_day date;
  d date;
BEGIN
  SELECT (min("timestamp") AT TIME ZONE 'UTC')::date, (max("timestamp") AT TIME ZONE 'UTC')::date
    INTO first_day, last_day FROM events_unpartitioned;
  IF first_day IS NULL THEN RETURN; END IF;
  d := date_trunc('month', first_day)::date;
  WHILE d < this_month AND d <= last_day LOOP
    PERFORM vigil_event_partition(d, (d + interval '1 month')::date);
    d := (d + interval '1 month')::date;
  END LOOP;
  d := greatest(first_day, this_month);
  WHILE d <= last_day LOOP
    PERFORM vigil_event_partition(d, d + 1);
    d := d + 1;
  END LOOP;
END
$$;--> statement-breakpoint

-- 4. The rows move; the keys and the indexes are built after them (faster than row by row).
INSERT INTO "events" ("id", "source", "event_type", "severity", "description", "timestamp", "occurred_at", "external_id", "attributes", "updated_at")
  SELECT "id", "source", "event_type", "severity", "description", "timestamp", "occurred_at", "external_id", "attributes", "updated_at"
  FROM "events_unpartitioned";--> statement-breakpoint
CREATE TABLE "event_keys" (
	"source" varchar(255) NOT NULL,
	"external_id" varchar(255) NOT NULL,
	"event_timestamp" timestamp with time zone NOT NULL,
	CONSTRAINT "event_keys_source_external_id_pk" PRIMARY KEY("source","external_id")
);--> statement-breakpoint
INSERT INTO "event_keys" ("source", "external_id", "event_timestamp")
  SELECT "source", "external_id", "timestamp" FROM "events_unpartitioned" WHERE "external_id" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "event_keys_event_timestamp_idx" ON "event_keys" USING brin ("event_timestamp");--> statement-breakpoint
ALTER TABLE "events" ADD CONSTRAINT "events_id_timestamp_pk" PRIMARY KEY("id","timestamp");--> statement-breakpoint
CREATE INDEX "events_timestamp_id_idx" ON "events" USING btree ("timestamp" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "events_severity_timestamp_id_idx" ON "events" USING btree ("severity","timestamp" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "events_event_type_timestamp_id_idx" ON "events" USING btree ("event_type","timestamp" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "events_source_timestamp_id_idx" ON "events" USING btree ("source","timestamp" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "events_updated_at_id_idx" ON "events" USING btree ("updated_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint

-- 5. Alerts refer to their event by (event_id, event_timestamp).
ALTER TABLE "alerts" ADD COLUMN "event_timestamp" timestamp with time zone;--> statement-breakpoint
UPDATE "alerts" a SET "event_timestamp" = e."timestamp" FROM "events_unpartitioned" e WHERE e."id" = a."event_id";--> statement-breakpoint
ALTER TABLE "alerts" ALTER COLUMN "event_timestamp" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "alerts" ADD CONSTRAINT "alerts_event_fk" FOREIGN KEY ("event_id","event_timestamp") REFERENCES "public"."events"("id","timestamp") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
CREATE INDEX "alerts_event_timestamp_idx" ON "alerts" USING btree ("event_timestamp");--> statement-breakpoint
DROP TABLE "events_unpartitioned";
