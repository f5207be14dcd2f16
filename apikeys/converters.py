"""URL converters for keys, registered once, here, when a URLconf imports this module.

`<public_id:public_id>` matches only the shape of a key's public id (see
apikeys.tokens), so a malformed id, a NUL or a 10,000-character string never
reaches a view or a query: the console answers 404, the API its JSON 404.
"""

import re

from django.urls import register_converter

from apikeys import tokens


class PublicIdConverter:
    regex = f"[{re.escape(tokens.ALPHABET)}]{{{tokens.PUBLIC_ID_LENGTH}}}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(PublicIdConverter, "public_id")
