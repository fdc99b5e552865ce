"""The installation's settings (SC_ environment variables), logging and keys."""
