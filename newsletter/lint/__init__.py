"""`newsletter check`: rules by subject, the runner, the report."""
