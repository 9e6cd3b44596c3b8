"""What the admins of keys and service clients share: showing a new secret exactly once."""

from django.template.response import TemplateResponse

from core.nostore import no_store


class RevealOnceMixin:
    """Show new secrets in the page the request that made them renders, and nowhere else.

    Not a message, the session, a cookie or a redirect: the page is the only copy, and it is
    marked ``no-store`` so no cache keeps one either.
    """

    reveal_template: str

    def reveal_once(self, request, created: list[dict], *, title: str):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "created": created,
        }
        return no_store(TemplateResponse(request, self.reveal_template, context))
