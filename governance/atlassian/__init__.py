"""The Atlassian HTTP client, its errors and typed records, and the local simulator.

No Django models live here: services receive a client as a keyword argument.
"""
