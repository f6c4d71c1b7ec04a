DROP INDEX "alerts_status_idx";--> statement-breakpoint
DROP INDEX "alerts_severity_idx";--> statement-breakpoint
DROP INDEX "alerts_source_idx";--> statement-breakpoint
DROP INDEX "audit_log_action_idx";--> statement-breakpoint
DROP INDEX "events_severity_idx";--> statement-breakpoint
DROP INDEX "events_event_type_idx";--> statement-breakpoint
DROP INDEX "events_source_idx";--> statement-breakpoint
DROP INDEX "incidents_status_idx";--> statement-breakpoint
DROP INDEX "incidents_assignee_idx";--> statement-breakpoint
CREATE INDEX "alerts_status_created_at_id_idx" ON "alerts" USING btree ("status","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "alerts_severity_created_at_id_idx" ON "alerts" USING btree ("severity","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "alerts_severity_status_created_at_id_idx" ON "alerts" USING btree ("severity","status","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "alerts_event_type_created_at_id_idx" ON "alerts" USING btree ("event_type","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "alerts_source_created_at_id_idx" ON "alerts" USING btree ("source","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "audit_log_action_created_at_id_idx" ON "audit_log" USING btree ("action","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "events_severity_timestamp_id_idx" ON "events" USING btree ("severity","timestamp" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "events_event_type_timestamp_id_idx" ON "events" USING btree ("event_type","timestamp" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "events_source_timestamp_id_idx" ON "events" USING btree ("source","timestamp" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "incidents_status_created_at_id_idx" ON "incidents" USING btree ("status","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "incidents_assignee_created_at_id_idx" ON "incidents" USING btree ("assignee_id","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);