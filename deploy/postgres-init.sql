-- The reports database beside the tracker store (docs/deployment.md); run by the postgres
-- image once, when its data volume is new (deploy/compose.yml).
CREATE DATABASE fanzha_reports OWNER fanzha;
