from django.views.debug import ExceptionReporter

from config.logfilters import redact


class RedactingExceptionReporter(ExceptionReporter):
    """Django's error report (the admin error mail, the DEBUG 500 page) without keys.

    The report shows the request's URL, GET and POST values, headers and
    META, the exception and every frame's local variables: a key can be in
    any of them, so the finished text is redacted rather than each part.
    """

    def get_traceback_html(self):
        return redact(super().get_traceback_html())

    def get_traceback_text(self):
        return redact(super().get_traceback_text())
