"""Administration: usage events and statistics, the audit log, guidance uploads and re-ingest, /forget."""
