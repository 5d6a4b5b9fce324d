"""Portal operators: the Django users who sign in to the admin, managed by Portal admins.

Rules (``rules``) say who may manage whom and grant what; services (``services``) make the change
with one audit event; the admin (``admin``) replaces Django's Users page with one built on both.
"""
