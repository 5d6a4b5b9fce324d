class ServiceRefused(Exception):
    """The change is not allowed (an org admin, an IdP-synced group, an unmanaged account ...).

    Raised before anything is sent to Atlassian; the message is meant for the person who asked.
    """
