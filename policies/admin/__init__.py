"""Admin for inactivity policies: policies (with their preview, email preview and "Run now"),
exemptions, the enforcement review queue, run history and access requests. Importing the modules
registers their admins."""

from policies.admin import access_requests, enforcements, exemptions, policies, runs  # noqa: F401
