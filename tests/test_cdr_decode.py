"""What mod_json_cdr posts and writes, in each of its encodings, decodes to the same CDR."""

import base64
import json
from pathlib import Path
from urllib.parse import quote

import pytest

from esl_connector.calls.cdr import CdrError
from esl_connector.cdrs.decode import decode_body, decode_file, query_uuid
from esl_connector.simulator.cdr import CdrPoster

from recordings import FIXTURES

TEXT = (Path(FIXTURES) / "json_cdr.click_to_call.agent_leg.json").read_text()
DOC = json.loads(TEXT)


@pytest.mark.parametrize("encode", ["false", "true", "base64"])
def test_every_post_encoding_decodes_to_the_document(encode):
    content_type, body = CdrPoster("http://x", encode=encode).encoded(DOC)
    assert decode_body(body.encode(), content_type + "; charset=utf-8") == DOC


@pytest.mark.parametrize("content", [
    TEXT.encode(),                                            # log-dir, or err-log-dir with encode=false
    quote(TEXT, safe="").encode() + b"\n",                    # err-log-dir with encode=true
    base64.b64encode(TEXT.encode()) + b"\n",                  # err-log-dir with encode=base64
])
def test_every_file_form_decodes_to_the_document(content):
    assert decode_file(content) == DOC


@pytest.mark.parametrize("content", [b"", b"<cdr/>", b"%7Bnot json", b"eyJub3QganNvbg"])
def test_files_that_are_not_cdrs_are_refused(content):
    with pytest.raises(CdrError):
        decode_file(content)


def test_the_urls_uuid_is_read():
    assert query_uuid(b"uuid=b3f67b56-d007-46ac-9dd4-8f72c46cfc67") == "b3f67b56-d007-46ac-9dd4-8f72c46cfc67"
    assert query_uuid("") == ""
