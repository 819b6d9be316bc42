"""Staff: accounts and sessions, the triage workflow, the audit log, exports and figures."""
