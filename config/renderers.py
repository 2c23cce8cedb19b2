"""JSON whose decimals are numbers written with their own digits.

APIs whose types say number (Paid's v2, the balance endpoints) get amounts as JSON
numbers: DRF's encoder would pass them through float; simplejson's `use_decimal` writes a
Decimal's digits as they are (137.03, never 137.03000000000001), so no float is made."""

import simplejson
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_OTHERS = JSONEncoder().default  # dates, UUIDs, lazy strings... as DRF writes them


class DecimalJSONRenderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        text = simplejson.dumps(
            data,
            use_decimal=True,
            namedtuple_as_object=False,
            default=_OTHERS,
            ensure_ascii=self.ensure_ascii,
            allow_nan=not self.strict,
            separators=(",", ":") if self.compact else None,
        )
        # As DRF does: U+2028 and U+2029 are valid JSON but end a line in JavaScript.
        return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()
