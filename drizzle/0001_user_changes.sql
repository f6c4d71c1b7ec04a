-- Every change to a user row is announced on the channel vigil_users (payload: the user's id, or
-- '*' after a TRUNCATE), when its transaction commits. Each Vigil instance keeps recently read
-- user rows for a moment (AUTH_CACHE_TTL_MS) and drops them when told, so deactivation, role and
-- password changes and deletion apply on every instance at once, including changes made outside
-- Vigil (psql, another instance).
CREATE OR REPLACE FUNCTION vigil_notify_user_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    PERFORM pg_notify('vigil_users', '*');
  ELSE
    PERFORM pg_notify('vigil_users', OLD.id::text);
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER users_notify_change AFTER UPDATE OR DELETE ON users
  FOR EACH ROW EXECUTE FUNCTION vigil_notify_user_change();
--> statement-breakpoint
CREATE TRIGGER users_notify_truncate AFTER TRUNCATE ON users
  FOR EACH STATEMENT EXECUTE FUNCTION vigil_notify_user_change();
