"""Mirror an organization from Atlassian: groups and what they grant, users with per-product
activity and memberships, seats. Streams pages, writes only what changed, in batches.

Entry point: :func:`accounts.sync.runner.organization_sync`.
"""
