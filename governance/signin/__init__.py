"""Sign-in protection: failed admin sign-ins counted per username and per address (django-axes),
lockouts, their audit events, the lockout page and the admin where Portal admins lift them.

settings.py explains the choice of django-axes and of the lockout parameters.
"""
