"""TrueUp vendor_ingestion service."""
