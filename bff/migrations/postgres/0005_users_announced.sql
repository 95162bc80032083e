-- Every change of a user is announced on channel gatehouse_users (payload:
-- the sub, hex-encoded), in the writing transaction: each instance drops what
-- it read of that user when it hears it, whoever wrote the row.
CREATE OR REPLACE FUNCTION gatehouse_users_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('gatehouse_users', encode(convert_to(COALESCE(NEW.sub, OLD.sub), 'UTF8'), 'hex'));
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS gatehouse_users_changed ON users;
CREATE TRIGGER gatehouse_users_changed AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION gatehouse_users_changed();
