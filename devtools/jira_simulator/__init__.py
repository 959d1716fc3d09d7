"""Jira Cloud simulator (dev tool): see README section in this docstring, filled in below."""
