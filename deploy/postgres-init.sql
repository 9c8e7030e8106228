-- The owner of the application's tables: not a superuser; CREATEROLE so that `manage.py db_roles` can create
-- the runtime role. Run by a superuser once (psql -v owner=… -v owner_password=… -v database=… -f this file);
-- compose runs it through deploy/postgres-init.sh when the volume is first created.
CREATE ROLE :"owner" LOGIN NOSUPERUSER NOCREATEDB CREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'owner_password';
CREATE DATABASE :"database" OWNER :"owner" ENCODING 'UTF8' TEMPLATE template0;
\connect :"database"
-- PostgreSQL 15+ gives the public schema to the database owner and no CREATE to PUBLIC; say so for older ones.
ALTER SCHEMA public OWNER TO :"owner";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
