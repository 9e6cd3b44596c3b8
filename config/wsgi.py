import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)  # as django.core.wsgi.get_wsgi_application does

from django.core.handlers.wsgi import WSGIHandler  # noqa: E402

application = WSGIHandler()
