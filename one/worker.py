"""`celery -A one.worker worker`: ONE's Celery app (see `one._worker`)."""

from one._worker import app as _app

app = _app()
