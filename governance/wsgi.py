"""The WSGI application for gunicorn (``governance.wsgi``), loaded once per web worker."""

import gc
import os

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
# Settings default to development (DEBUG on, development secrets) so that a fresh clone's
# manage.py works with no variables; a served portal must choose, or it would run in debug mode
# with public secrets because a variable was forgotten.
if os.environ.get("DJANGO_DEBUG") is None:
    raise ImproperlyConfigured(
        "DJANGO_DEBUG is not set: set DJANGO_DEBUG=false (production, with its secrets) for a served "
        "portal; `make run` is the development server."
    )
application = get_wsgi_application()

# What is loaded by now (Django, the apps, their models, admin and URL conf) lives as long as the
# worker. Frozen, it is left out of every later cyclic collection, so the full collections that
# requests' own garbage triggers walk only what requests created: measured on the admin's account
# list at 100,000 accounts, about 30 ms instead of 60-100 ms added to one request in five
# (bench/README.md, admin lists). Reference counting still frees everything as usual.
gc.freeze()
