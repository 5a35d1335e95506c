-- Runs once, when the compose PostgreSQL volume is first created. Mirrors the
-- CloudNativePG bootstrap in deploy/k8s/base/postgres.yaml: one database, one schema per
-- service, each owned by the service's own login role (not superuser, not BYPASSRLS),
-- so row-level security applies to every service. Development passwords only.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

CREATE ROLE trueup_gateway LOGIN PASSWORD 'dev-gateway' NOSUPERUSER NOBYPASSRLS;
CREATE ROLE trueup_psa_sync LOGIN PASSWORD 'dev-psa-sync' NOSUPERUSER NOBYPASSRLS;
CREATE ROLE trueup_vendor_ingestion LOGIN PASSWORD 'dev-vendor-ingestion' NOSUPERUSER NOBYPASSRLS;
CREATE ROLE trueup_reconciliation LOGIN PASSWORD 'dev-reconciliation' NOSUPERUSER NOBYPASSRLS;
CREATE ROLE trueup_writeback LOGIN PASSWORD 'dev-writeback' NOSUPERUSER NOBYPASSRLS;
CREATE ROLE trueup_audit LOGIN PASSWORD 'dev-audit' NOSUPERUSER NOBYPASSRLS;

CREATE SCHEMA gateway AUTHORIZATION trueup_gateway;
CREATE SCHEMA psa_sync AUTHORIZATION trueup_psa_sync;
CREATE SCHEMA vendor_ingestion AUTHORIZATION trueup_vendor_ingestion;
CREATE SCHEMA reconciliation AUTHORIZATION trueup_reconciliation;
CREATE SCHEMA writeback AUTHORIZATION trueup_writeback;
CREATE SCHEMA audit AUTHORIZATION trueup_audit;

ALTER ROLE trueup_gateway SET search_path = gateway;
ALTER ROLE trueup_psa_sync SET search_path = psa_sync;
ALTER ROLE trueup_vendor_ingestion SET search_path = vendor_ingestion;
ALTER ROLE trueup_reconciliation SET search_path = reconciliation;
ALTER ROLE trueup_writeback SET search_path = writeback;
ALTER ROLE trueup_audit SET search_path = audit;
