import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)  # as django.core.wsgi.get_wsgi_application does

from django.core.handlers.wsgi import WSGIHandler  # noqa: E402

from config.lane import Lane  # noqa: E402

# auth/check and keys/verify are answered in front of Django's stack (config/lane.py);
# KEYWARD_LANE=false sends them through Django like every other request.
application = Lane(WSGIHandler())
